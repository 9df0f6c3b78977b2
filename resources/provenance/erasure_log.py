"""The append-only log of erasure requests: ``erasure/requests.jsonl`` under the artifact root.

One JSON line per applied request: request id, who asked, the request file and its content hash, when, which
source rows were tombstoned, which model versions were flagged. Subjects appear only as keyed hashes (with the
rows each resolved to), so the log itself holds no personal data yet still lets a later lookup by subject find
rows that are no longer in any ingested drop. Lines are only ever appended (one ``write`` of a whole line plus
fsync, under a lock), never rewritten: it is the audit trail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from resources.layout import Layout
from resources.provenance.locking import locked


def log_path(artifact_root: Path | str) -> Path:
    return Layout(artifact_root).tombstones().parent / "requests.jsonl"


def append_entry(artifact_root: Path | str, entry: dict[str, Any]) -> None:
    path = log_path(artifact_root)
    line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n"
    with locked(path.parent, ".requests.lock"):
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def entries(artifact_root: Path | str) -> list[dict[str, Any]]:
    path = log_path(artifact_root)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not a JSON line ({e}); the erasure log was edited by hand or cut short. "
                             "Restore it from backup; do not delete it, it is the audit trail") from e
    return out


def rows_by_subject_hash(artifact_root: Path | str, hashes: set[str]) -> dict[str, set[str]]:
    """Source rows that earlier requests resolved each of ``hashes`` to."""
    found: dict[str, set[str]] = {}
    for e in entries(artifact_root):
        for h, rows in (e.get("subject_rows") or {}).items():
            if h in hashes:
                found.setdefault(h, set()).update(rows)
    return found
