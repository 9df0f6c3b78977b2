"""``train_log.jsonl``: one JSON record per optimiser step (loss, learning rate, tokens, speed, and the held-out
loss on the steps it was measured), appended as training goes and cut back to the checkpoint a run resumes from.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

TRAIN_LOG = "train_log.jsonl"


def append_record(log_path: Path, record: dict[str, Any]) -> None:
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def read_records(log_path: Path | str) -> list[dict[str, Any]]:
    """Every complete record; a line cut short by a kill is skipped."""
    log_path = Path(log_path)
    if not log_path.is_file():
        return []
    records = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def truncate_log(log_path: Path, step: int) -> None:
    """Drop log lines of steps after the checkpoint we resume from: they will be run (and logged) again."""
    from resources.storage import atomic_file

    if not log_path.exists():
        return
    keep = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill is dropped too
            if json.loads(line).get("step", 0) <= step:
                keep.append(line + "\n")
    with atomic_file(log_path) as tmp:
        tmp.write_text("".join(keep), encoding="utf-8")
