"""Training runs as the stages see them: train, resume or reuse one run, and which run is current.

A run is one folder per run key (``Layout.adapter_run``); the same key means the same data, start and settings,
so a finished run is reused and an interrupted one resumes. SFT and DPO go through the same steps; the pointer
files (``Layout.current_run``, ``Layout.current_preference_run``) tell evaluation and publishing which
checkpoints are current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resources.layout import Layout


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def latest_run(layout: Layout) -> dict[str, Any]:
    """{"run_key", "checkpoints"} of the current SFT run; {} before the first one."""
    return _read(layout.current_run())


def preference_run(layout: Layout) -> dict[str, Any]:
    """{"run_key", "checkpoints", "init_checkpoint"} of the current DPO run; {} before the first one."""
    return _read(layout.current_preference_run())


def train_or_reuse(context, trainer, store, run_key: str, max_steps: int, *, what: str, unchanged: str,
                   **run_args) -> tuple[list[str], dict[str, Any]]:
    """Train run ``run_key`` (resuming where it stopped), or reuse it when it is finished (``max_steps`` reached,
    or stopped early).

    ``run_args`` go to ``Trainer.run``. Returns the keys of the checkpoints handed on to evaluation, oldest first
    (of an early-stopped run only its best: run_outcome.py), and the metadata the training process reported ({}
    when reused). ``what`` and ``unchanged`` only word the log lines.
    """
    from resources.training.checkpointing import latest_checkpoint
    from resources.training.run_outcome import handed_on_steps, is_finished

    out = store.layout.adapter_run(run_key)
    final = latest_checkpoint(out)
    reported: dict[str, Any] = {}
    if is_finished(out, max_steps):
        context.log.info(f"{what} {run_key} already complete at {final.name}: {unchanged}")
    else:
        context.log.info(f"{what} {run_key} -> {out}")
        invocation = trainer.run(context, output_dir=out, artifacts={"uri": store.uri, "root": str(store.path())},
                                 **run_args)
        if store.uri:  # a pod on another node published the checkpoints; bring them here
            store.mirror().pull([str(out.relative_to(store.path()))])
        reported = invocation.get_materialize_result().metadata or {}
    handed_on = set(handed_on_steps(out))
    return [k for k in store.layout.checkpoint_keys(run_key) if int(k.rsplit("-", 1)[1]) in handed_on], reported
