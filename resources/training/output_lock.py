"""One trainer per output folder: ``<output_dir>/.train.lock`` names the process (pid, host) that writes there.

Two trainers in one folder would interleave checkpoints, truncate each other's log and delete each other's
half-written checkpoint as "stale". The lock is an ``flock`` on the file (the kernel drops it when the holder
dies, even by ``kill -9``) plus the holder's pid, host and start time written inside, which

- names the holder in the refusal, so the operator knows what to stop;
- still guards where ``flock`` does not reach: a shared volume mounted on several nodes. There a lock from
  another host counts as held while its holder keeps touching it (every ``HEARTBEAT_S``); one left untouched
  for ``STALE_AFTER_S`` is from a dead node and is taken over, as is one from a dead pid on this host.

The file is hidden, so content hashes and the artifact mirror ignore it, and is removed on a clean exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from resources.processes import same_process_alive, this_process

LOCK_NAME = ".train.lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0


class OutputFolderBusy(RuntimeError):
    """Another live trainer holds the output folder."""


def read_holder(output_dir: Path | str) -> dict:
    """What the lock file says (empty when there is none or it is unreadable)."""
    try:
        return json.loads((Path(output_dir) / LOCK_NAME).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _busy(path: Path, holder: dict, why: str) -> OutputFolderBusy:
    return OutputFolderBusy(
        f"{path.parent}: another trainer writes here (pid {holder.get('pid', '?')} on host "
        f"{holder.get('host', '?')}, since {holder.get('since', '?')}; {why}). Two trainers in one folder would "
        f"corrupt each other's checkpoints: wait for it, or stop that process. Lock file: {path}")


def _refuse_if_held_elsewhere(path: Path, holder: dict) -> str | None:
    """Raise when ``holder`` is live although our flock succeeded; else say what stale lock we take over."""
    if not holder.get("pid"):
        return None
    alive = same_process_alive(int(holder["pid"]), str(holder.get("host")), holder.get("started"))
    if alive is not None:  # this host
        if alive and holder["pid"] != os.getpid():
            raise _busy(path, holder, "the process is alive; this file system may not support flock")
        return f"taking over the lock of pid {holder['pid']} on this host, which is gone"
    age = time.time() - path.stat().st_mtime
    if age < STALE_AFTER_S:
        raise _busy(path, holder, f"its heartbeat is {age:.0f}s old; a lock from another host is taken over only "
                                  f"after {STALE_AFTER_S:.0f}s without one")
    return f"taking over the lock of pid {holder['pid']} on host {holder['host']}, silent for {age:.0f}s"


@contextlib.contextmanager
def output_lock(output_dir: Path | str, log: Callable[[str], None] = print,
                heartbeat_s: float = HEARTBEAT_S) -> Iterator[dict]:
    """Hold ``output_dir`` for this process while the block runs; raise ``OutputFolderBusy`` if a live one does."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOCK_NAME
    fd = _lock_file(path)
    try:
        note = _refuse_if_held_elsewhere(path, read_holder(output_dir))
        if note:
            log(f"{output_dir}: {note}")
        me = {**this_process(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        os.fsync(fd)
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(path, stop, heartbeat_s), daemon=True,
                                name="train-lock-heartbeat")
        beat.start()
        try:
            yield me
        finally:
            stop.set()
            beat.join()
            path.unlink()  # while still locked: a waiting opener notices the file it holds is gone (_lock_file)
    finally:
        os.close(fd)  # releases the flock


def _lock_file(path: Path) -> int:
    """An fd holding the flock of the file now at ``path`` (not of one a finishing holder just unlinked)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(path, read_holder(path.parent), "it holds the lock") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # we locked a file its holder removed on release: try the one there now


def _heartbeat(path: Path, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        with contextlib.suppress(OSError):
            os.utime(path)
