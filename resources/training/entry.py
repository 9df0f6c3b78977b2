"""Entry point of the training process.

Launched by Dagster (``Trainer.run`` in launcher.py) it speaks Dagster Pipes: parameters arrive as Pipes
extras, progress goes to the run log, every checkpoint is a custom message, and the end is an asset
materialisation whose data version is the content hash of the final adapter. By hand, for debugging::

    python -m resources.training.entry --params params.json
    torchrun --standalone --nproc_per_node=2 -m resources.training.entry --params params.json

``params.json``: ``{"base_model_dir": ..., "train_path": ..., "output_dir": ..., "config": {...TrainConfig}}``, and
``"init_adapter"`` for a run that starts from a checkpoint (DPO from the SFT adapter), ``"eval_path"`` for the
held-out set that ``eval_loss_every`` measures (early stopping), ``"trust_remote_code"`` / ``"allow_pickle"``
(default false) for a base model trusted that far (its handle: resources/model/handle.py).
Imports ``dagster_pipes`` only (never ``dagster``), so it runs in a bare GPU image or a Kubernetes pod.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from resources.training.distributed import Dist, broadcast_object, destroy_process_group, init_process_group
from resources.training.parent_watch import watch_parent
from resources.training.reporting import PipesReporter, Reporter, SilentReporter

PARAM_KEYS = ("base_model_dir", "train_path", "output_dir")


def run_training(params: dict[str, Any], reporter: Reporter, dist: Dist) -> dict[str, Any]:
    from resources.training.config import TrainConfig
    from resources.training.loop import train

    missing = [k for k in PARAM_KEYS if not params.get(k)]
    if missing:
        raise ValueError(f"training parameters lack {missing}; expected {list(PARAM_KEYS)} and 'config'")
    cfg = TrainConfig.from_dict(params.get("config") or {})
    artifacts = params.get("artifacts") or {}
    init, heldout = params.get("init_adapter") or None, params.get("eval_path") or None
    trust = {k: bool(params.get(k)) for k in ("trust_remote_code", "allow_pickle")}
    if not artifacts.get("uri"):
        return train(cfg, params["base_model_dir"], params["train_path"], params["output_dir"], reporter, dist,
                     init_adapter=init, eval_path=heldout, **trust)
    mirror, output = _shared_artifacts(artifacts, params, dist)
    result = train(cfg, params["base_model_dir"], params["train_path"], params["output_dir"],
                   PublishingReporter(reporter, mirror, output) if dist.is_main else reporter, dist,
                   init_adapter=init, eval_path=heldout, **trust)
    if dist.is_main:
        mirror.push([output])
    return result


def _shared_artifacts(artifacts: dict[str, Any], params: dict[str, Any], dist: Dist):
    """The node's working copy of shared artifact storage, with this run's inputs and earlier checkpoints pulled."""
    from resources.remote.mirror import ArtifactMirror
    from resources.training.distributed import barrier

    mirror = ArtifactMirror(artifacts["uri"], artifacts["root"])
    rel = {k: Path(params[k]).relative_to(mirror.root).as_posix() for k in PARAM_KEYS}
    if dist.local_rank == 0:  # one download per node; the other ranks of the node read the same folder
        pulled = [rel["base_model_dir"], Path(rel["train_path"]).parent.as_posix(), rel["output_dir"]]
        if params.get("init_adapter"):  # the SFT checkpoint a DPO run starts from
            pulled.append(Path(params["init_adapter"]).relative_to(mirror.root).as_posix())
        if params.get("eval_path"):  # the held-out set early stopping measures (beside train.parquet as a rule)
            pulled.append(Path(params["eval_path"]).parent.relative_to(mirror.root).as_posix())
        mirror.pull(pulled)
    barrier(dist)
    return mirror, rel["output_dir"]


class PublishingReporter:
    """Publishes each checkpoint to shared storage as it is saved, so a run resumed on another node finds it."""

    def __init__(self, inner: Reporter, mirror, output: str):
        self.inner, self.mirror, self.output = inner, mirror, output

    def checkpoint(self, info: dict[str, Any]) -> None:
        report = self.mirror.push([self.output])
        self.inner.log(f"checkpoint published to {self.mirror.uri}: {report.summary()}")
        self.inner.checkpoint(info)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def materialization_metadata(result: dict[str, Any]) -> dict[str, Any]:
    """Asset metadata in Pipes' raw form (plain values, or {"raw_value", "type"} where the type matters)."""
    loss = result["final_loss"]
    md: dict[str, Any] = {
        "final_loss": loss if math.isfinite(loss) else None,
        "steps": result["steps"],
        "tokens": result["tokens"],
        "seconds": result["seconds"],
        "examples": result["examples"],
        "adapter_hash": result["adapter_hash"],
        "final_checkpoint": {"raw_value": result["final_checkpoint"], "type": "path"},
        "train_log": {"raw_value": result["train_log"], "type": "path"},
        "checkpoints": {"raw_value": result["checkpoints"], "type": "json"},
        "resumed_from_step": result["resumed_from"] if result["resumed_from"] is not None else 0,
        "stop_reason": result.get("stop_reason"),
    }
    best = result.get("heldout") or {}
    if best.get("best_step") is not None and math.isfinite(best["best_loss"]):
        md.update(best_heldout_step=best["best_step"], best_heldout_loss=best["best_loss"])
    return {k: v for k, v in md.items() if v is not None}


def _quiet_libraries() -> None:
    from resources.offline import HUB_OFFLINE, apply_offline_env

    apply_offline_env({**HUB_OFFLINE, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})  # never reach for the hub from training
    from resources.known_warnings import silence_known_warnings

    silence_known_warnings()  # before transformers and bitsandbytes are imported: some warn at import time
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resources.training.entry", description=__doc__.split("\n")[0])
    parser.add_argument("--params", help="JSON file with the parameters (run without Dagster)")
    args, _ = parser.parse_known_args(argv)
    watch_parent()  # launched by Dagster: end with the launching process, never train on as an orphan
    _quiet_libraries()
    dist = Dist.from_env()
    init_process_group(dist)
    try:
        if args.params:
            params = broadcast_object(dist, json.loads(Path(args.params).read_text()) if dist.is_main else None)
            result = run_training(params, Reporter() if dist.is_main else SilentReporter(), dist)
            if dist.is_main:
                print(json.dumps({"result": result}, default=str), flush=True)
        elif dist.is_main:
            from dagster_pipes import open_dagster_pipes

            with open_dagster_pipes() as pipes:
                params = {k: pipes.get_extra(k) for k in PARAM_KEYS}
                params["config"] = pipes.extras.get("config") or {}
                params["init_adapter"] = pipes.extras.get("init_adapter")
                params["eval_path"] = pipes.extras.get("eval_path")
                for key in ("trust_remote_code", "allow_pickle"):
                    params[key] = bool(pipes.extras.get(key))
                params["artifacts"] = pipes.extras.get("artifacts") or {}
                params = broadcast_object(dist, params)
                result = run_training(params, PipesReporter(pipes), dist)
                pipes.report_asset_materialization(metadata=materialization_metadata(result),
                                                   data_version=result["adapter_hash"])
        else:
            run_training(broadcast_object(dist, None), SilentReporter(), dist)
    finally:
        destroy_process_group(dist)
    return 0


if __name__ == "__main__":
    sys.exit(main())
