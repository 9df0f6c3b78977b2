"""The training pod spec: what the configuration asks for, valid for the Kubernetes API, no secret inlined.

No cluster exists here, so the pod is checked as far as it can be without one: built by dagster_k8s's own
``build_pod_body`` (which validates every field against the Kubernetes client models) and compared field by
field with the configuration.
"""

from __future__ import annotations

import inspect
import json

import pytest
import yaml
from dagster_k8s import PipesK8sClient
from dagster_k8s.pipes import build_pod_body

from resources.remote.kubernetes import KubernetesLaunch, pod_command, pod_spec, run_in_kubernetes
from resources.training.launcher import Trainer

CONFIG = yaml.safe_load("""
image: registry.internal/privft-train:1.4.0
namespace: ml-training
gpus: 4
cpu: "32"
memory: 300Gi
node_selector: {cloud.google.com/gke-accelerator: nvidia-h100-80gb, privft/pool: gpu}
tolerations:
  - {key: nvidia.com/gpu}
volumes:
  - {name: artifacts, mount_path: /srv/privft/artifacts, claim_name: privft-artifacts}
  - {name: cache, mount_path: /var/cache/privft, host_path: /mnt/nvme/privft-cache}
env: {PRIVFT_ARTIFACTS: /srv/privft/artifacts, HF_HUB_OFFLINE: "1"}
secret_env:
  - {env: AWS_SECRET_ACCESS_KEY, secret: privft-s3, key: secret-key}
  - {env: AWS_ACCESS_KEY_ID, secret: privft-s3, key: access-key}
service_account: privft-trainer
image_pull_secrets: [registry-credentials]
""")


@pytest.fixture
def launch() -> KubernetesLaunch:
    return KubernetesLaunch(**CONFIG)


def test_command_is_the_local_launchers_entry_point(launch):
    local = Trainer(launcher="torchrun", nproc_per_node=4).command()
    assert pod_command(launch, local) == ["python", *local[1:]]
    assert local[-2:] == ["-m", "resources.training.entry"]

    one_gpu = KubernetesLaunch(**{**CONFIG, "gpus": 1})
    assert pod_command(one_gpu, Trainer().command()) == ["python", "-m", "resources.training.entry"]


def test_gpu_count_and_process_count_must_agree(launch):
    with pytest.raises(ValueError, match="nproc_per_node"):
        pod_command(launch, Trainer(launcher="torchrun", nproc_per_node=2).command())
    with pytest.raises(ValueError, match="torchrun"):
        pod_command(launch, Trainer(launcher="subprocess").command())  # 3 of 4 GPUs would sit idle
    with pytest.raises(ValueError, match="resources.training.entry"):
        pod_command(launch, ["python", "train.py"])


def test_pod_matches_configuration_exactly(launch, monkeypatch):
    command = pod_command(launch, Trainer(launcher="torchrun", nproc_per_node=4).command())
    spec = pod_spec(launch, command)
    pod = build_pod_body("privft-train-test", image=None, command=None, env_vars={"DAGSTER_PIPES_CONTEXT": "ctx"},
                         base_pod_meta={"labels": {"team": "ml"}}, base_pod_spec=spec)
    assert len(pod.spec.containers) == 1
    (c,) = pod.spec.containers

    assert c.image == CONFIG["image"] and c.command == command
    assert c.resources.limits == {"nvidia.com/gpu": "4", "memory": "300Gi"}
    assert c.resources.requests == {"nvidia.com/gpu": "4", "cpu": "32", "memory": "300Gi"}
    assert pod.spec.node_selector == CONFIG["node_selector"]
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    assert pod.spec.service_account_name == "privft-trainer"
    assert [s.name for s in pod.spec.image_pull_secrets] == ["registry-credentials"]
    assert pod.spec.restart_policy == "Never"

    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["artifacts"].persistent_volume_claim.claim_name == "privft-artifacts"
    assert volumes["cache"].host_path.path == "/mnt/nvme/privft-cache"
    assert volumes["dshm"].empty_dir.medium == "Memory" and volumes["dshm"].empty_dir.size_limit == "16Gi"
    assert {m.name: m.mount_path for m in c.volume_mounts} == {
        "artifacts": "/srv/privft/artifacts", "cache": "/var/cache/privft", "dshm": "/dev/shm"}

    env = {e.name: e for e in c.env}
    assert env["PRIVFT_ARTIFACTS"].value == "/srv/privft/artifacts"
    assert env["DAGSTER_PIPES_CONTEXT"].value == "ctx"  # Pipes talks to the same (first) container
    for name, key in (("AWS_SECRET_ACCESS_KEY", "secret-key"), ("AWS_ACCESS_KEY_ID", "access-key")):
        assert env[name].value is None
        assert (env[name].value_from.secret_key_ref.name, env[name].value_from.secret_key_ref.key) == ("privft-s3", key)


def test_secrets_are_never_inlined(launch, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak-7f3a")
    monkeypatch.setenv("PRIVFT_PG_PASSWORD", "do-not-leak-9b21")
    spec = pod_spec(launch, ["python", "-m", "resources.training.entry"])
    assert "do-not-leak" not in json.dumps(spec)

    with pytest.raises(ValueError, match="secret_env"):
        pod_spec(KubernetesLaunch(**{**CONFIG, "env": {"PRIVFT_PG_PASSWORD": "hunter2"}}), ["python"])


def test_volume_needs_exactly_one_source():
    bad = KubernetesLaunch(**{**CONFIG, "volumes": [{"name": "x", "mount_path": "/x", "claim_name": "c",
                                                     "host_path": "/h"}]})
    with pytest.raises(ValueError, match="exactly one"):
        pod_spec(bad, ["python", "-m", "resources.training.entry"])


def test_run_in_kubernetes_hands_the_pod_to_pipes(launch):
    calls = []

    class RecordingClient:
        def run(self, **kwargs):
            calls.append(kwargs)
            return "completed"

    class Log:
        def info(self, message):
            calls.append(message)

    context = type("Context", (), {"log": Log()})()
    extras = {"train_path": "/srv/privft/artifacts/prepared/datasets/train.parquet"}
    local = Trainer(launcher="torchrun", nproc_per_node=4).command()
    assert run_in_kubernetes(context, launch, local, extras, client=RecordingClient()) == "completed"

    (kwargs,) = [c for c in calls if isinstance(c, dict)]
    assert kwargs["namespace"] == "ml-training" and kwargs["extras"] == extras
    assert kwargs["base_pod_spec"] == pod_spec(launch, pod_command(launch, local))
    # Every keyword we pass is one the real client accepts.
    assert set(kwargs) <= set(inspect.signature(PipesK8sClient.run).parameters)


def test_trainer_kubernetes_launcher_runs_the_same_entry_point_in_a_gpu_pod():
    from resources.remote.kubernetes import KubernetesLaunch, pod_command, pod_spec
    from resources.training.launcher import Trainer

    local = Trainer(launcher="subprocess").command()
    trainer = Trainer(launcher="kubernetes", nproc_per_node=1,
                      kubernetes=KubernetesLaunch(image="registry.internal/privft:1", gpus=1))
    in_pod = pod_command(trainer.kubernetes, trainer.command())
    assert in_pod[1:] == local[1:]  # same module, only the image's interpreter differs
    spec = pod_spec(trainer.kubernetes, in_pod)
    container = spec["containers"][0]
    assert container["command"][-1] == "resources.training.entry" or "resources.training.entry" in container["command"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")
