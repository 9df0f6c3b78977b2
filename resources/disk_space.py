"""A full disk said plainly: what was being written, where, how much it needed and how much was free.

``torch.save`` on a full disk says ``RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos
...`` and safetensors ``OSError: [Errno 28]`` without the size. Writers of large artifacts check the free space
before they start (``ensure_space``) and translate a failure while writing (``explain_disk_full``), so the
operator reads "disk full while writing checkpoint step 20 to /srv/...: needs about 48.0 MiB, 3.1 MiB free".
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path
from typing import Iterator, Optional

# what torch's zip writer, safetensors (its own exception type) and other native writers say when a write came up
# short; they do not raise OSError, so the text is all there is to go by
_SHORT_WRITE = ("unexpected pos", "file write failed", "no space left on device", "os error 28",
                "pytorchstreamwriter failed")


class DiskFullError(OSError):
    """Not enough space to write an artifact; the message names it, the folder and the sizes."""


def human(n: Optional[float]) -> str:
    if n is None:
        return "an unknown amount"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path | str) -> int:
    return shutil.disk_usage(_existing(Path(path))).free


def disk_full_error(what: str, where: Path | str, needed: Optional[int], cause: str = "") -> DiskFullError:
    where = Path(where)
    usage = shutil.disk_usage(_existing(where))
    return DiskFullError(errno.ENOSPC, (
        f"disk full while writing {what} to {where}: it needs about {human(needed)}, {human(usage.free)} free "
        f"of {human(usage.total)} there. Free space on that disk or point the artifact root (store.root) at a "
        f"larger one; nothing half-written was published" + (f" ({cause})" if cause else "")))


def ensure_space(what: str, where: Path | str, needed: int) -> None:
    """Refuse to start writing ``needed`` bytes under ``where`` when the disk cannot hold them."""
    if free_bytes(where) < needed:
        raise disk_full_error(what, where, needed)


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return not isinstance(exc, OSError) and any(s in str(exc).lower() for s in _SHORT_WRITE)


@contextlib.contextmanager
def explain_disk_full(what: str, where: Path | str, needed: Optional[int] = None) -> Iterator[None]:
    """Re-raise a full-disk failure inside the block as ``DiskFullError`` naming ``what``, ``where`` and sizes.

    Use it inside ``atomic_dir``/``atomic_file``, so the free space is read while the partial write still takes
    its room. A torch short write with ``needed`` bytes still free was something else, and stays as it was."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        if not isinstance(exc, OSError) and needed is not None and free_bytes(where) >= needed:
            raise  # a native write error although the space is there: not a full disk
        raise disk_full_error(what, where, needed, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") \
            from exc
