"""Which folder a training run lives in: the same data, base and configuration always land in the same one,
which is what lets an interrupted run resume instead of starting over."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from resources.storage import content_hash
from resources.training.config import TrainConfig


def training_run_key(train_path: Path | str, base_version: str, cfg: TrainConfig, init: str | None = None,
                     heldout_path: Path | str | None = None) -> str:
    """Key of the run training ``cfg`` on ``train_path`` from the base at ``base_version`` (``init``: the hash of the
    adapter it starts from, DPO). The configuration counts through ``config_hash``, the fingerprint the trainer
    checks on resume: knobs that do not change what is learnt (``save_every``, speed switches) keep the key.
    ``heldout_path``: the set early stopping measures; it decides where the run ends, so with ``eval_loss_every``
    on a new held-out set is a new run."""
    parts = {"train": content_hash(train_path), "base": base_version, "config": cfg.config_hash()}
    if init is not None:
        parts["init"] = init
    if cfg.eval_loss_every and heldout_path is not None:
        parts["heldout"] = content_hash(heldout_path)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
