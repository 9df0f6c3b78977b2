"""Is a process still there, and is it the one we mean? (pid, host and start time, read from /proc.)

A pid alone is not an identity: after a crash the kernel may hand the same number to an unrelated process.
Where /proc exists, a process's start time tells the two apart; elsewhere we fall back to "some process has
that pid", which errs on the side of "alive" (never fails a run that may still be working).
"""

from __future__ import annotations

import os
import socket
from typing import Optional


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def started_at(pid: int) -> Optional[float]:
    """Start of process ``pid`` in seconds since the epoch, or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()  # the command name may hold spaces and ')'
        with open("/proc/stat", "rb") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def same_process_alive(pid: int, host: str, started: Optional[float]) -> Optional[bool]:
    """True/False for a process on this host (pid and, when known, start time within 2 s); None for another host."""
    if host != socket.gethostname():
        return None
    if not pid_alive(pid):
        return False
    now_started = started_at(pid)
    return started is None or now_started is None or abs(now_started - started) < 2.0


def this_process() -> dict:
    """pid, host and start time of the calling process: what ``same_process_alive`` checks later."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "started": started_at(pid)}
