"""Finding drops: the files or folders under ``<root>/<source>/`` that each become one Dagster partition.

A drop is a ``.jsonl``/``.csv``/``.parquet`` file, or a folder of such files, directly under the source folder.
Its key is its name, with every character outside ``[A-Za-z0-9._-]`` replaced by ``_`` so it is a safe partition
key; when two names sanitise to the same key, the later one (in name order) gets a short hash suffix.
Names that look like a transfer in progress (leading ``.``, or ending in ``.tmp``/``.part``) are ignored until
they are renamed into place.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from resources.sources.files import SUFFIXES

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_IN_PROGRESS = (".tmp", ".part")


def drop_key(name: str) -> str:
    return _UNSAFE.sub("_", name)


def in_progress(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_IN_PROGRESS)


def drop_files(drop: Path) -> list[Path]:
    """The data files of a drop, in name order (a single file is its own drop)."""
    if drop.is_file():
        return [drop] if drop.suffix.lower() in SUFFIXES else []
    if not drop.is_dir():
        return []
    return sorted(p for p in drop.iterdir()
                  if p.is_file() and p.suffix.lower() in SUFFIXES and not in_progress(p.name))


def find_drops(folder: Path) -> dict[str, Path]:
    """Drop key -> path for one source folder; a missing folder has no drops."""
    if not folder.is_dir():
        return {}
    drops: dict[str, Path] = {}
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if in_progress(p.name) or not drop_files(p):
            continue  # other files (README), empty folders and unfinished transfers are not drops yet
        key = drop_key(p.name)
        if key in drops:
            key = f"{key}-{hashlib.sha1(p.name.encode()).hexdigest()[:6]}"
        drops[key] = p
    return drops
