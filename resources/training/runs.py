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
    """Train run ``run_key`` (resuming where it stopped), or reuse it when it already reached ``max_steps``.

    ``run_args`` go to ``Trainer.run``. Returns the run's checkpoint keys, oldest first, and the metadata the
    training process reported ({} when reused). ``what`` and ``unchanged`` only word the log lines.
    """
    from resources.training.checkpointing import latest_checkpoint, read_state

    out = store.layout.adapter_run(run_key)
    final = latest_checkpoint(out)
    reported: dict[str, Any] = {}
    if final is not None and read_state(final).get("step", 0) >= max_steps:
        context.log.info(f"{what} {run_key} already complete at {final.name}: {unchanged}")
    else:
        context.log.info(f"{what} {run_key} -> {out}")
        invocation = trainer.run(context, output_dir=out, artifacts={"uri": store.uri, "root": str(store.path())},
                                 **run_args)
        if store.uri:  # a pod on another node published the checkpoints; bring them here
            store.mirror().pull([str(out.relative_to(store.path()))])
        reported = invocation.get_materialize_result().metadata or {}
    return store.layout.checkpoint_keys(run_key), reported
