"""The training process dies with the Dagster process that launched it.

A trainer whose launcher was killed (``kill -9`` of ``privft run``, an OOM-killed run worker) has nobody to
report to: it would keep the GPU busy, write checkpoints nobody registers, and hold the output folder's lock.
The launcher passes its pid in ``PRIVFT_TRAINER_PARENT``; a daemon thread here waits on a pidfd of that
process (the kernel wakes it when the process ends, however it ends) and ends this process at once.

The launcher's pid, not ``os.getppid()``: under ``torchrun`` the direct parent is the elastic agent, and every
rank must still go when the Dagster process goes. A checkpoint being written is left as a hidden temporary,
which the next trainer removes (checkpointing.remove_stale_temporaries); completed checkpoints stay.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from typing import Callable, Optional

from resources.processes import pid_alive

PARENT_ENV = "PRIVFT_TRAINER_PARENT"
POLL_S = 1.0  # fallback where pidfds are missing (Linux < 5.3, other systems)


def _die(pid: int) -> None:
    print(f"training stops: the process that launched it (pid {pid}) is gone; completed checkpoints are kept",
          file=sys.stderr, flush=True)
    os._exit(1)  # no clean-up that could block on a dead parent's pipes


def watch_parent(pid: Optional[int] = None, on_death: Callable[[int], None] = _die) -> Optional[threading.Thread]:
    """Call ``on_death(pid)`` from a daemon thread when process ``pid`` (default: ``$PRIVFT_TRAINER_PARENT``) ends."""
    if pid is None:
        pid = int(os.environ.get(PARENT_ENV) or 0)
    if pid <= 0:
        return None  # started by hand, not by a launcher: nothing to watch
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        on_death(pid)  # gone before we looked
        return None
    except (AttributeError, OSError):
        fd = None
    thread = threading.Thread(target=_wait, args=(pid, fd, on_death), daemon=True, name="parent-watch")
    thread.start()
    return thread


def _wait(pid: int, fd: Optional[int], on_death: Callable[[int], None]) -> None:
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has exited
        os.close(fd)
    else:
        while pid_alive(pid):
            time.sleep(POLL_S)
    on_death(pid)

