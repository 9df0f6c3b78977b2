"""Version builds in progress hold a lock on their hidden folder, so a killed build's folder can be told apart.

A version is built in ``<registry>/<model>/.<version>.<random>.tmp`` (a complete merged model: gigabytes for a
real one). ``kill -9`` during the build leaves that folder behind, invisible to readers and never removed. A
build holds an ``flock`` on its folder while it runs; the kernel drops it when the builder dies, however it
dies, so at the next publish every hidden build folder nobody holds is a leftover and is removed. A folder
is created under another suffix, locked, and only then renamed to ``.tmp``, so a sweep never meets a build
folder before its builder holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def locked_build_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new hidden ``<prefix><random>.tmp`` folder in ``parent``, locked while the block runs, removed after it
    unless the block renamed it away."""
    new = Path(tempfile.mkdtemp(prefix=prefix, suffix=".new", dir=parent))
    fd = os.open(new, os.O_RDONLY)
    tmp = new.with_suffix(".tmp")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the lock follows the folder through renames; dropped on close or death
        os.rename(new, tmp)
        yield tmp
    finally:
        for leftover in (new, tmp):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
        os.close(fd)


def remove_stale_builds(parent: Path) -> list[tuple[str, int]]:
    """Remove hidden ``*.tmp`` build folders in ``parent`` that no live build holds; return (name, bytes) each."""
    removed = []
    if not parent.is_dir():
        return removed
    for p in sorted(parent.iterdir()):
        if not (p.name.startswith(".") and p.name.endswith(".tmp") and p.is_dir() and not p.is_symlink()):
            continue
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue  # vanished meanwhile: its build finished or another sweep took it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live build
        try:
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())
            shutil.rmtree(p, ignore_errors=True)
            removed.append((p.name, size))
        finally:
            os.close(fd)
    return removed
