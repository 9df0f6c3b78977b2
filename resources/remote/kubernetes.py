"""Training in a Kubernetes pod with GPUs: the same entry point as on a workstation, sent out through Pipes.

The pod runs exactly the command the local launcher builds (``python -m resources.training.entry``, or the
same under ``torch.distributed.run``), only with the image's interpreter. ``dagster_k8s.PipesK8sClient`` creates
the pod, passes the Dagster context in, streams the pod's log back as Pipes messages and deletes the pod.

Everything about *where* it runs is configuration (``KubernetesLaunch``): image, GPU count, node selector and
tolerations of the GPU node pool, CPU and memory, volumes (the shared artifact volume, a node-local cache,
/dev/shm), plain environment, secrets and the service account. Secrets only ever appear as references to a
Kubernetes Secret (``valueFrom.secretKeyRef``); a value that looks secret in the plain ``env`` is refused.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import dagster as dg

# Plain env entries whose names say "secret" are refused: put them in a Kubernetes Secret and use secret_env.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY", re.IGNORECASE)


class Volume(dg.Config):
    """One volume and where the trainer container sees it. Set exactly one of claim_name, host_path, empty_dir."""

    name: str
    mount_path: str
    claim_name: str | None = None  # a PersistentVolumeClaim, e.g. the ReadWriteMany artifact volume
    host_path: str | None = None  # a node-local folder, e.g. the NVMe cache of downloaded datasets and models
    empty_dir: bool = False  # scratch space that lives as long as the pod
    medium: str = ""  # "Memory" for a tmpfs (used for /dev/shm)
    size_limit: str | None = None
    read_only: bool = False


class SecretEnv(dg.Config):
    """An environment variable filled by Kubernetes from a Secret; the value never passes through Dagster."""

    env: str  # variable name inside the pod, e.g. AWS_SECRET_ACCESS_KEY
    secret: str  # name of the Kubernetes Secret
    key: str  # key inside that Secret


class Toleration(dg.Config):
    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str = "NoSchedule"


class KubernetesLaunch(dg.ConfigurableResource):
    """Where and how the training pod runs."""

    image: str
    namespace: str = "privft"
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: list[str] = []
    python: str = "python"  # the image's interpreter replaces the local one in the launcher's command
    working_dir: str = "/app"
    gpus: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    cpu: str = "8"
    memory: str = "64Gi"
    shm_size: str = "16Gi"  # torch's data loader and NCCL use /dev/shm; the container default is 64 MiB
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    volumes: list[Volume] = []
    env: dict[str, str] = {}
    secret_env: list[SecretEnv] = []
    service_account: str | None = None
    labels: dict[str, str] = {}
    active_deadline_seconds: int | None = None  # Kubernetes kills the pod after this; Dagster's monitor also does


def pod_command(config: KubernetesLaunch, local_command: Sequence[str]) -> list[str]:
    """The local launcher's command (``Trainer.command()``) with the image's interpreter instead of ours."""
    command = [config.python, *local_command[1:]]
    if "resources.training.entry" not in command:
        raise ValueError(f"{list(local_command)} does not run resources.training.entry; pass Trainer.command()")
    procs = [int(a.split("=", 1)[1]) for a in command if a.startswith("--nproc_per_node=")]
    if procs and procs[0] != config.gpus:
        raise ValueError(f"torchrun starts {procs[0]} processes but the pod gets {config.gpus} GPUs; set "
                         f"Trainer.nproc_per_node and KubernetesLaunch.gpus to the same number")
    if not procs and config.gpus > 1:
        raise ValueError(f"the pod gets {config.gpus} GPUs but the command starts one process; use "
                         f"Trainer(launcher='torchrun', nproc_per_node={config.gpus})")
    return command


def _volume(v: Volume) -> dict[str, Any]:
    sources = [s for s in (v.claim_name, v.host_path, v.empty_dir or None) if s]
    if len(sources) != 1:
        raise ValueError(f"volume {v.name!r}: set exactly one of claim_name, host_path, empty_dir")
    if v.claim_name:
        return {"name": v.name, "persistentVolumeClaim": {"claimName": v.claim_name, "readOnly": v.read_only}}
    if v.host_path:
        return {"name": v.name, "hostPath": {"path": v.host_path, "type": "DirectoryOrCreate"}}
    empty: dict[str, Any] = {"medium": v.medium} if v.medium else {}
    if v.size_limit:
        empty["sizeLimit"] = v.size_limit
    return {"name": v.name, "emptyDir": empty}


def pod_spec(config: KubernetesLaunch, command: Sequence[str]) -> dict[str, Any]:
    """The PodSpec (camelCase, as in a manifest) for one training run; ``command`` as from ``pod_command``."""
    inlined = sorted(k for k in config.env if SECRET_NAME.search(k))
    if inlined:
        raise ValueError(f"env {inlined} look like secrets; create a Kubernetes Secret and list them in secret_env "
                         f"so their values never appear in the pod spec or the Dagster run config")
    if config.gpus < 0:
        raise ValueError(f"gpus is {config.gpus}; it must be 0 or more")

    volumes = list(config.volumes)
    if config.shm_size:
        volumes.append(Volume(name="dshm", mount_path="/dev/shm", empty_dir=True, medium="Memory",
                              size_limit=config.shm_size))
    env = [{"name": k, "value": v} for k, v in sorted(config.env.items())]
    env += [{"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}} for s in config.secret_env]

    requests: dict[str, str] = {"cpu": config.cpu, "memory": config.memory}
    limits: dict[str, str] = {"memory": config.memory}
    if config.gpus:
        # Extended resources are whole units and requests must equal limits.
        requests[config.gpu_resource] = limits[config.gpu_resource] = str(config.gpus)

    container: dict[str, Any] = {
        "name": "trainer",
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": list(command),
        "workingDir": config.working_dir,
        "env": env,
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": [{"name": v.name, "mountPath": v.mount_path, "readOnly": v.read_only} for v in volumes],
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",  # a failed step is retried by Dagster (run retries), not by the kubelet
        "containers": [container],
        "volumes": [_volume(v) for v in volumes],
        "nodeSelector": dict(config.node_selector),
        "tolerations": [{k: v for k, v in t.model_dump().items() if v is not None} for t in config.tolerations],
    }
    if config.service_account:
        spec["serviceAccountName"] = config.service_account
    if config.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in config.image_pull_secrets]
    if config.active_deadline_seconds:
        spec["activeDeadlineSeconds"] = config.active_deadline_seconds
    return spec


def pod_meta(config: KubernetesLaunch) -> dict[str, Any]:
    return {"labels": {"app.kubernetes.io/name": "privft-trainer", **config.labels}}


def run_in_kubernetes(context, config: KubernetesLaunch, command: Sequence[str], extras: Mapping[str, Any],
                      client=None) -> dg.PipesClientCompletedInvocation:
    """Run ``command`` (a launcher command, see ``pod_command``) in a GPU pod and wait for it, through Pipes."""
    from dagster_k8s import PipesK8sClient

    client = client or PipesK8sClient()
    spec = pod_spec(config, pod_command(config, command))
    context.log.info(f"training pod in {config.namespace}: {config.gpus} x {config.gpu_resource}, image {config.image}")
    return client.run(context=context, extras=dict(extras), namespace=config.namespace, base_pod_spec=spec,
                      base_pod_meta=pod_meta(config))
