"""Versioned model registry on a plain folder: immutable versions, a promotion pointer, an append-only history.

    <root>/<model_name>/
        <version>/          adapter/, merged/, MODEL_CARD.md, manifest.json (+ flags.json once marked)
        promoted.json       {"version", "previous", "reason", "at"}: what serving should load
        history.jsonl       every publish, promote, rollback, mark and gate decision, kept forever

A version id is derived from its inputs (upstream data versions + code version), so rebuilding the same inputs
names the same version and publishing it again is a no-op. A version is built in a hidden temporary folder and
made visible with one rename that never replaces an existing folder, so readers see a complete version or none.
The pointer is rewritten with an atomic replace; pointer moves hold an exclusive lock so two promoters cannot
interleave.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from resources.publishing.stale_builds import locked_build_dir, remove_stale_builds
from resources.storage import write_json

REQUIRED = ("adapter", "merged", "MODEL_CARD.md", "manifest.json")
POINTER, HISTORY, FLAGS = "promoted.json", "history.jsonl", "flags.json"
# Flags that make a version unfit to serve: it is never promoted, nor rolled back to.
BLOCKING_FLAGS = frozenset({"contains_erased_data", "withdrawn"})


class RegistryError(RuntimeError):
    pass


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class Registry:
    def __init__(self, root: Path | str, model_name: str):
        self.root = Path(root)
        self.model_name = model_name
        self.dir = self.root / model_name

    # --- versions ------------------------------------------------------------------------------------------
    @staticmethod
    def version_for(inputs: dict[str, Any]) -> str:
        """``v-<12 hex>`` from the canonical JSON of ``inputs`` (key order does not matter)."""
        blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
        return "v-" + hashlib.sha256(blob.encode()).hexdigest()[:12]

    def path(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"{version!r} is not a version name")
        return self.dir / version

    def exists(self, version: str) -> bool:
        return self.path(version).is_dir()

    def versions(self) -> list[str]:
        """Published versions, oldest first."""
        if not self.dir.is_dir():
            return []
        order = {e["version"]: i for i, e in reversed(list(enumerate(self.history()))) if e.get("event") == "publish"}
        found = [p.name for p in self.dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted(found, key=lambda v: (order.get(v, len(order)), v))

    def publish(self, version: str, build: Callable[[Path], None]) -> bool:
        """Build ``version`` with ``build(folder)`` and make it visible at once; False if it already existed."""
        target = self.path(version)
        if target.exists():
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        for name, size in remove_stale_builds(self.dir):  # left by builds killed mid-way
            self._log({"event": "remove_stale_build", "folder": name, "bytes": size})
        with locked_build_dir(self.dir, f".{version}.") as tmp:
            build(tmp)
            missing = [name for name in REQUIRED if not (tmp / name).exists()]
            if missing:
                raise RegistryError(f"build of {self.model_name} {version} did not write {missing}; "
                                    f"a version needs {list(REQUIRED)}. Nothing was published.")
            try:
                os.rename(tmp, target)  # fails instead of replacing when a concurrent publish got there first
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and target.exists():
                    return False
                raise
            self._log({"event": "publish", "version": version})
            return True

    # --- promotion -----------------------------------------------------------------------------------------
    def promoted(self) -> Optional[str]:
        p = self.dir / POINTER
        return json.loads(p.read_text())["version"] if p.exists() else None

    def pointer(self) -> Optional[dict[str, Any]]:
        p = self.dir / POINTER
        return json.loads(p.read_text()) if p.exists() else None

    def promote(self, version: str, reason: str) -> None:
        if not self.exists(version):
            raise RegistryError(f"{self.model_name}: no version {version!r} under {self.dir}; "
                                f"published: {self.versions() or 'none'}")
        blocking = BLOCKING_FLAGS & set(self.flags(version))
        if blocking:
            raise RegistryError(f"{self.model_name} {version} is flagged {sorted(blocking)} and cannot be promoted "
                                f"(see {self.path(version) / FLAGS})")
        with self._lock():
            current = self.promoted()
            if current == version:
                return
            self._move_pointer("promote", version, current, reason)

    def rollback(self, reason: str = "rollback") -> str:
        """Point back at the version promoted before the current one (skipping flagged ones); returns it."""
        with self._lock():
            current = self.promoted()
            if not current:
                raise RegistryError(f"{self.model_name}: nothing is promoted, so there is nothing to roll back")
            stack = self._promotion_stack()
            if not stack or stack[-1] != current:
                stack.append(current)  # the pointer was moved outside this class; trust the pointer
            stack.pop()
            while stack and (BLOCKING_FLAGS & set(self.flags(stack[-1])) or not self.exists(stack[-1])):
                stack.pop()
            if not stack:
                raise RegistryError(f"{self.model_name}: no earlier promoted version to roll back to from {current} "
                                    "(promote one explicitly with --version)")
            self._move_pointer("rollback", stack[-1], current, reason)
            return stack[-1]

    def _promotion_stack(self) -> list[str]:
        """Replay the history: a promote pushes, a rollback pops back to the version it restored."""
        stack: list[str] = []
        for e in self.history():
            if e.get("event") == "promote":
                stack.append(e["version"])
            elif e.get("event") == "rollback":
                while stack and stack[-1] != e["version"]:
                    stack.pop()
                if not stack:
                    stack.append(e["version"])
        return stack

    def _move_pointer(self, event: str, version: str, previous: Optional[str], reason: str) -> None:
        record = {"version": version, "previous": previous, "reason": reason, "at": _now()}
        write_json(self.dir / POINTER, record)
        self._log({"event": event, **record})

    def versions_containing(self, record_id: str) -> list[str]:
        """Versions whose training records include ``record_id`` (an example id or any source row it stands for)."""
        from resources.publishing.record_set import contains_record

        found = []
        for v in self.versions():
            manifest = json.loads((self.path(v) / "manifest.json").read_text(encoding="utf-8"))
            records = manifest.get("training_records")
            if records and not Path(records).is_absolute():  # a copy inside the version folder (card.py)
                records = str(self.path(v) / records)
            if not records or not Path(records).exists():
                raise RegistryError(f"{self.path(v) / 'manifest.json'}: training record file {records!r} is missing, "
                                    "so it cannot be told whether this version saw the record; restore it from backup")
            if contains_record(records, record_id):
                found.append(v)
        return found

    # --- flags and history ---------------------------------------------------------------------------------
    def flags(self, version: str) -> dict[str, Any]:
        p = self.path(version) / FLAGS
        return json.loads(p.read_text()) if p.exists() else {}

    def mark(self, version: str, flag: str, detail: Any = "") -> None:
        """Attach ``flag`` (e.g. contains_erased_data) to a published version; the version itself stays unchanged."""
        if not self.exists(version):
            raise RegistryError(f"{self.model_name}: cannot mark unknown version {version!r}")
        with self._lock():
            flags = self.flags(version)
            flags[flag] = {"detail": detail, "at": _now()}
            write_json(self.path(version) / FLAGS, flags)
            self._log({"event": "mark", "version": version, "flag": flag, "detail": detail})

    def log(self, event: str, **fields: Any) -> None:
        """Append a free-form event (e.g. a gate decision) to the history."""
        self._log({"event": event, **fields})

    def history(self) -> list[dict[str, Any]]:
        p = self.dir / HISTORY
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]

    def status(self) -> dict[str, Any]:
        return {"model": self.model_name, "registry": str(self.dir), "promoted": self.pointer(),
                "versions": [{"version": v, "flags": sorted(self.flags(v))} for v in self.versions()]}

    def _log(self, entry: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": _now(), **entry}, sort_keys=True, default=str) + "\n"
        # One write of one line in append mode: concurrent appenders never interleave within a line.
        with open(self.dir / HISTORY, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
