"""One writer at a time for the provenance indexes: the erasure sensor, a lookup run and the CLI may overlap."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def locked(folder: Path | str, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder/name`` (created if missing) for the block."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
