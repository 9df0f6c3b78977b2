"""Deciding which data drops are complete and new: the logic behind the drop sensors, free of Dagster.

A drop (file or folder) is taken when it is *complete*: either a marker ``<drop name>.done`` sits beside it
(for writers that can create one: immediate pickup), or its size and modification time did not change between
two sensor ticks (for plain copies). It is *new* when its content hash was never requested before, so
touching a file, a daemon restart or copying the same file again requests nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from resources.storage import content_hash


@dataclass(frozen=True)
class ReadyDrop:
    drop: str
    content: str

    @property
    def run_key(self) -> str:
        return f"{self.drop}:{self.content}"


def _signature(path: Path) -> str:
    files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


def has_done_marker(path: Path) -> bool:
    return path.with_name(path.name + ".done").exists()


def scan(drops: dict[str, Path], cursor: str | None,
         already_ingested: frozenset[str] = frozenset()) -> tuple[list[ReadyDrop], list[str], str]:
    """Return (drops ready to request, drops still being written, new cursor).

    ``already_ingested`` drops (materialised before this sensor ever ran, e.g. by ``make run``) are recorded as
    handled on a sensor's first tick instead of being ingested a second time.
    """
    state: dict[str, dict] = json.loads(cursor) if cursor else {}
    if cursor is None:
        for drop in already_ingested & set(drops):
            if drops[drop].exists():
                state[drop] = {"sig": _signature(drops[drop]), "hash": content_hash(drops[drop])}
    ready, waiting = [], []
    for drop, path in sorted(drops.items()):
        if not path.exists():
            continue
        sig = _signature(path)
        prev = state.get(drop, {})
        complete = has_done_marker(path) or prev.get("sig") == sig
        entry = {"sig": sig, "hash": prev.get("hash")}
        if complete:
            digest = content_hash(path)
            if digest != prev.get("hash"):
                ready.append(ReadyDrop(drop, digest))
            entry["hash"] = digest
        else:
            waiting.append(drop)
        state[drop] = entry
    return ready, waiting, json.dumps(state, sort_keys=True)
