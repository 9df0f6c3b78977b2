"""The Dagster side of training: a resource that validates the configuration and starts the training process.

Training runs in its own process (``python -m resources.training.entry``), speaking Dagster Pipes, so a CUDA
crash or an out-of-memory kill cannot take the Dagster run worker down with it, and the same entry point runs
under ``torchrun`` or in a pod. Assets call ``Trainer.run`` and get back Pipes' completed invocation.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Optional

import dagster as dg

from resources.offline import HUB_OFFLINE
from resources.remote.kubernetes import KubernetesLaunch
from resources.settings_resource import settings_resource
from resources.training.config import DPO_ONLY, TrainConfig
from resources.training.parent_watch import PARENT_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = ("subprocess", "torchrun", "kubernetes")


class Trainer(settings_resource(TrainConfig, exclude=DPO_ONLY)):
    """How to launch training, and every TrainConfig knob but the DPO ones (those come from the dpo section):
    the fields are TrainConfig's own (resources/settings_resource.py), so a new knob is a setting at once."""

    launcher: str = "subprocess"  # "subprocess" | "torchrun" | "kubernetes"
    nproc_per_node: int = 1
    python: str = ""  # interpreter for the training process; default: this one
    # the GPU pod for launcher "kubernetes" (image, GPUs, node selector, volumes, secrets); artifact paths must
    # resolve to the same shared volume inside the pod (see docs/DEPLOYMENT.md)
    kubernetes: Optional[KubernetesLaunch] = None

    def train_config(self) -> TrainConfig:
        # always the SFT objective: the preference stage derives its DPO config from this one (dpo section)
        return self.settings()

    def command(self) -> list[str]:
        python = self.python or sys.executable
        if self.launcher == "subprocess" or (self.launcher == "kubernetes" and self.nproc_per_node == 1):
            return [python, "-m", "resources.training.entry"]
        if self.launcher in ("torchrun", "kubernetes"):
            return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={self.nproc_per_node}",
                    "-m", "resources.training.entry"]
        raise dg.Failure(f"Trainer.launcher {self.launcher!r} is unknown; choose one of {list(LAUNCHERS)}")

    def problems(self, base_model_dir: Path | str | None = None, config: TrainConfig | None = None,
                 trust_remote_code: bool = False) -> list[str]:
        """Everything wrong with these settings (``base_model_dir``: also against that model; ``config``: instead
        of this resource's own TrainConfig); [] when none."""
        errors = (config or self.train_config()).validate(base_model_dir, trust_remote_code)
        if self.launcher not in LAUNCHERS:
            near = difflib.get_close_matches(self.launcher, list(LAUNCHERS), n=1)
            errors.append(f"launcher {self.launcher!r} is unknown; "
                          + (f"did you mean {near[0]!r}?" if near else f"choose one of {list(LAUNCHERS)}"))
        if self.launcher == "kubernetes" and self.kubernetes is None:
            errors.append("launcher 'kubernetes' needs the kubernetes section (image, gpus, ...) of the trainer")
        if self.nproc_per_node < 1:
            errors.append(f"nproc_per_node is {self.nproc_per_node}: it must be at least 1")
        return errors

    def run(self, context, *, base_model_dir: str | Path, train_path: str | Path, output_dir: str | Path,
            artifacts: dict[str, str] | None = None, config: TrainConfig | None = None,
            init_adapter: str | Path | None = None, eval_path: str | Path | None = None,
            trust_remote_code: bool = False, allow_pickle: bool = False) -> dg.PipesClientCompletedInvocation:
        """Validate, then train in a child process; resumes from the last checkpoint in ``output_dir``.

        ``config`` replaces this resource's own TrainConfig (the preference stage's DPO settings);
        ``init_adapter`` is a checkpoint the adapter starts from instead of a fresh one; ``eval_path`` the
        held-out set that ``eval_loss_every`` measures. ``trust_remote_code``, ``allow_pickle``: how far the base
        model is trusted (its handle), in this check and in the training process.

        ``artifacts`` ({"uri", "root"}) names the shared artifact storage when there is one: a pod on another
        node then pulls its inputs from there and publishes every checkpoint there (entry.py).
        """
        cfg = config or self.train_config()
        errors = self.problems(base_model_dir, cfg, trust_remote_code)
        if errors:
            raise dg.Failure(description="training configuration is invalid, nothing was started:\n"
                             + "\n".join(f"- {e}" for e in errors),
                             metadata={"errors": dg.MetadataValue.json(errors)})
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", **HUB_OFFLINE,
               PARENT_ENV: str(os.getpid())}  # the trainer ends when this process does (parent_watch.py)
        extras = {"base_model_dir": str(base_model_dir), "train_path": str(train_path),
                  "output_dir": str(output_dir), "config": cfg.to_dict(),
                  "trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle}
        if init_adapter:
            extras["init_adapter"] = str(init_adapter)
        if eval_path:
            extras["eval_path"] = str(eval_path)
        if artifacts and artifacts.get("uri"):
            extras["artifacts"] = artifacts
        context.log.info(f"training with {' '.join(self.command())} into {output_dir}")
        if self.launcher == "kubernetes":
            from resources.remote.kubernetes import run_in_kubernetes

            return run_in_kubernetes(context, self.kubernetes, self.command(), extras)
        client = dg.PipesSubprocessClient(env=env, cwd=str(REPO_ROOT))
        return client.run(command=self.command(), context=context, extras=extras)


def plot_loss_curve(train_log_path: str | Path) -> str:
    """Markdown with the loss (and learning rate) per step as an embedded PNG, for asset metadata."""
    import json

    import matplotlib

    from resources.reports.plots import figure_markdown

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(train_log_path).read_text(encoding="utf-8").splitlines() if line]
    if not records:
        return "_no training steps logged yet_"
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.plot(steps, [r["loss"] for r in records], marker="o", markersize=3, label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    lr_ax = ax.twinx()
    lr_ax.plot(steps, [r["lr"] for r in records], color="tab:orange", alpha=0.6, label="lr")
    lr_ax.set_ylabel("learning rate")
    return figure_markdown(fig, "training loss", dpi=100)
