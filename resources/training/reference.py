"""The DPO reference: log-probabilities of every pair under the starting policy, computed once per run.

The reference model is the SFT adapter the policy starts from, frozen. Its answers never change, so instead of
a second model (or a second adapter) in memory and a second forward per step, one pass over the pairs before the
first step records log pi_ref(chosen) and log pi_ref(rejected) (TRL's ``precompute_ref_log_probs``). The pass is
stored with the run (``reference_logps.json``, written atomically) under a key of the data, the starting adapter
and the sequence length, so a resumed run reads it back instead of redoing it, and a changed input recomputes it.
Ranks of a distributed run each score a share of the pairs and exchange the results.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable

from resources.training.distributed import Dist, gather_objects
from resources.training.pairs import PairStream, collate_pairs

REFERENCE_FILE = "reference_logps.json"


def load_reference(output_dir: Path | str, key: dict[str, Any]) -> list[tuple[float, float]] | None:
    path = Path(output_dir) / REFERENCE_FILE
    if not path.is_file():
        return None
    with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["key"] == key:
            return [(float(c), float(r)) for c, r in stored["logps"]]
    return None


def compute_reference(model, stream: PairStream, *, device: str, autocast, dist: Dist,
                      batch_size: int) -> list[tuple[float, float]]:
    """(chosen, rejected) log-probabilities of every pair under ``model`` as it is now, in pair order."""
    import torch

    from resources.training.dpo import sequence_logps

    mine = list(range(dist.rank, len(stream.rows), dist.world_size))
    scored: dict[int, tuple[float, float]] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(mine), batch_size):
            idx = mine[s:s + batch_size]
            batch = collate_pairs([stream.rows[j] for j in idx], stream.pad_id)
            with autocast:
                logps = sequence_logps(model, batch["input_ids"].to(device), batch["completion_mask"].to(device))
            chosen, rejected = logps.float().cpu().chunk(2)
            scored.update({j: (float(c), float(r)) for j, c, r in zip(idx, chosen.tolist(), rejected.tolist())})
    model.train(was_training)
    merged: dict[int, tuple[float, float]] = {}
    for part in gather_objects(dist, scored):
        merged.update(part)
    return [merged[j] for j in range(len(stream.rows))]


def reference_logps(model, stream: PairStream, output_dir: Path | str, key: dict[str, Any], *, device: str,
                    autocast, dist: Dist, batch_size: int,
                    log: Callable[[str], None] = print) -> list[tuple[float, float]]:
    """The stored reference pass when its key matches, else a new pass, stored by rank 0."""
    from resources.storage import write_json

    found = load_reference(output_dir, key)
    if found is not None and len(found) == len(stream.rows):
        log(f"reference: {len(found)} pairs' log-probabilities read from {REFERENCE_FILE}")
        return found
    logps = compute_reference(model, stream, device=device, autocast=autocast, dist=dist, batch_size=batch_size)
    if dist.is_main:
        write_json(Path(output_dir) / REFERENCE_FILE, {"key": key, "logps": [list(p) for p in logps]})
    log(f"reference: log-probabilities of {len(logps)} pairs under the starting adapter computed and stored")
    return logps
