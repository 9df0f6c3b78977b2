"""Finding drops: the files or folders under ``<root>/<source>/`` that each become one Dagster partition.

A drop is a ``.jsonl``/``.csv``/``.parquet`` file (or such a file compressed, which is refused with a reason when
ingested), or a folder holding anything, directly under the source folder.

Its key depends on its own name only, so a key once given never moves when other drops arrive: a name that is
already a safe partition key (``[A-Za-z0-9._-]``, at most ``MAX_KEY`` characters) is its own key; any other name
becomes its sanitised, shortened form plus ``-`` and a short hash of the name's bytes (``fz late.jsonl`` ->
``fz_late.jsonl-3f2a9c``). The original name is kept in the drop's metadata and ledger.
Names that look like a transfer in progress (leading ``.``, or ending in ``.tmp``/``.part``) are ignored until
they are renamed into place.

A drop folder is a trust boundary: ``drop_contents`` lists every entry of a drop with the reason it is refused,
if it is (a symlink leading outside the data folder, a sub-folder, a compressed or other unsupported file), so
nothing in a drop is skipped without a word.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from resources.sources.files import SUFFIXES

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_IN_PROGRESS = (".tmp", ".part")
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".7z", ".tar", ".tgz")
# a key names an artifact folder; a temporary prefix and suffix are added while it is written (255-byte limit)
MAX_KEY = 100
_log = logging.getLogger(__name__)


def drop_key(name: str) -> str:
    safe = _UNSAFE.sub("_", name)
    if safe == name and len(name) <= MAX_KEY:
        return name
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:6]  # fsencode: the name's own bytes, even non-UTF-8 ones
    return f"{safe[:MAX_KEY - 7]}-{digest}"


def display_name(name: str) -> str:
    """A file name as text that can be stored: bytes that are not UTF-8 shown as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def in_progress(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_IN_PROGRESS)


def _compressed_data(name: str) -> bool:
    stem, ext = os.path.splitext(name.lower())
    return ext in COMPRESSED and (os.path.splitext(stem)[1] in SUFFIXES or ext in (".zip", ".7z", ".tar", ".tgz"))


def _outside(path: Path, root: Path) -> bool:
    try:
        return not path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop leads nowhere inside the data folder either
        return True


def refusal(path: Path, root: Path) -> str:
    """Why an entry of a drop is not read ("" when it is a data file to read)."""
    if _outside(path, root):
        return (f"refused symlink: {display_name(path.name)} leads outside the data folder {root}; a drop must "
                f"hold its data, not point at other places on the machine")
    if path.is_dir():
        return (f"nested folder: {display_name(path.name)}/ is not read; put its files directly into the drop "
                f"folder or deliver it as a drop of its own")
    if _compressed_data(path.name):
        return f"compressed file: {display_name(path.name)}; decompress it, drops must be {', '.join(SUFFIXES)}"
    if not path.is_file():
        return f"unsupported file: {display_name(path.name)} is not a regular file"
    if path.suffix.lower() not in SUFFIXES:
        return f"unsupported file: {display_name(path.name)}; a drop holds only {', '.join(SUFFIXES)} files"
    return ""


def drop_contents(drop: Path, root: Path) -> list[tuple[Path, str]]:
    """(entry, refusal reason or "") for everything in a drop, in name order (a single file is its own drop).

    Entries named like an unfinished transfer are left for later; empty marker files (Spark's ``_SUCCESS``)
    carry nothing and are not listed.
    """
    if drop.is_dir() and not _outside(drop, root):
        entries = [p for p in sorted(drop.iterdir(), key=lambda p: p.name) if not in_progress(p.name)]
        return [(p, refusal(p, root)) for p in entries
                if not (p.is_file() and not p.is_symlink() and not p.suffix and p.stat().st_size == 0)]
    return [(drop, refusal(drop, root))]


def drop_files(drop: Path) -> list[Path]:
    """The data files of a drop, in name order (a single file is its own drop)."""
    if drop.is_file():
        return [drop] if drop.suffix.lower() in SUFFIXES else []
    if not drop.is_dir():
        return []
    return sorted(p for p in drop.iterdir()
                  if p.is_file() and p.suffix.lower() in SUFFIXES and not in_progress(p.name))


def _is_drop(p: Path) -> bool:
    if in_progress(p.name):
        return False
    if p.is_dir():
        return any(not in_progress(c.name) for c in p.iterdir())
    return p.suffix.lower() in SUFFIXES or _compressed_data(p.name)


def find_drops(folder: Path) -> dict[str, Path]:
    """Drop key -> path for one source folder; a missing folder has no drops.

    Other files (a README), empty folders and unfinished transfers are not drops.
    """
    if not folder.is_dir():
        return {}
    drops: dict[str, Path] = {}
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if not _is_drop(p):
            continue
        key = drop_key(p.name)
        if key in drops:
            # only a name crafted to equal another's hashed key gets here: the name that *is* the key keeps it
            loser, drops[key] = (drops[key], p) if p.name == key else (p, drops[key])
            _log.warning("drop %s is not listed: its key %s belongs to %s", display_name(loser.name), key,
                         display_name(drops[key].name))
            continue
        drops[key] = p
    return drops
