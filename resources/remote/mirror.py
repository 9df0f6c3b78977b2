"""A node's working copy of an artifact tree that lives in object storage (``store.uri: s3://bucket/prefix``).

Every engine reads and writes local paths (torch, Parquet, safetensors all want files), so with an artifact URI
the local artifact root becomes a working copy: a step *pulls* what changed in the bucket before it runs and
*pushes* what it changed before Dagster hears that it succeeded. Pods on different nodes then see the same
datasets, checkpoints and models.

**Units.** The files directly inside one folder form one unit (a folder's subfolders are units of their own), so
any layout works without a list of artifact kinds. Each unit is published like ``object_store.ObjectStore``
publishes a folder: its files go to ``<uri>/<folder>/_versions/<version>/`` first, then one atomic write of
``<uri>/<folder>/_COMPLETE`` (the manifest) makes the new version visible. A reader never sees a half-uploaded
unit; an interrupted push leaves only unreferenced objects.

**What moves.** Hidden names (``.x``) are temporaries and never move. A pull lists the manifests once (one
recursive listing), and downloads only units whose manifest changed since this node last saw it; a push hashes
only units whose file sizes or modification times changed, and uploads only those whose content hash differs
from what the bucket has. Both keep their bookkeeping in ``<root>/.privft-sync.json`` and hold
``<root>/.privft-sync.lock`` while they work, so steps running side by side on one node take turns.

**Conflicts.** Dagster orders the steps that depend on each other, and each asset owns its folders, so two
writers of the same unit at once means two runs of the same asset; then the later push wins, as it would on a
shared disk. A unit deleted locally (an erasure rewriting a drop) is deleted from the bucket on push, and a unit
deleted from the bucket is deleted from the working copy on pull.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from resources.remote.object_store import FORMAT, MANIFEST, VERSIONS, ObjectStore
from resources.storage import atomic_file, content_hash

STATE = ".privft-sync.json"
LOCK = ".privft-sync.lock"


@dataclass
class SyncReport:
    pulled: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{len(self.pulled)} units pulled, {len(self.pushed)} pushed, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged in {self.seconds:.2f}s")


class ArtifactMirror:
    def __init__(self, uri: str, root: Path | str, keep_versions: int = 2):
        self.uri = uri.rstrip("/")
        self.root = Path(root).expanduser()
        self.objects = ObjectStore(keep_versions=keep_versions)
        self.fs, self.path = self.objects.filesystem(self.uri)

    # --- the API ---------------------------------------------------------------------------------------------
    def pull(self, prefixes: Sequence[str] | None = None) -> SyncReport:
        """Bring the working copy up to date with the bucket (only under ``prefixes``, relative folders, if given)."""
        report, started = SyncReport(), time.perf_counter()
        with self._locked() as state:
            remote = self._remote_units()
            for rel, signature in sorted(remote.items()):
                if not _within(rel, prefixes):
                    continue
                known = state.get(rel)
                if known and known["remote"] == signature and self._stat(rel, known["files"]) == known["stat"]:
                    report.unchanged += 1
                    continue
                state[rel] = self._download(rel, signature, known)
                report.pulled.append(rel)
            for rel in [r for r in state if r not in remote and _within(r, prefixes)]:
                for name in state.pop(rel)["files"]:  # deleted in the bucket by another node
                    (self._local(rel) / name).unlink(missing_ok=True)
                report.removed.append(rel)
        report.seconds = time.perf_counter() - started
        return report

    def push(self, prefixes: Sequence[str] | None = None) -> SyncReport:
        """Publish every unit that changed locally (only under ``prefixes`` if given); delete units removed here."""
        report, started = SyncReport(), time.perf_counter()
        with self._locked() as state:
            local = {rel: files for rel, files in self._local_units().items() if _within(rel, prefixes)}
            for rel, files in sorted(local.items()):
                known = state.get(rel)
                stat = self._stat(rel, files)
                if known and known["stat"] == stat and known["files"] == files:
                    report.unchanged += 1
                    continue
                digest = content_hash(*(self._local(rel) / f for f in files))
                if known and known["hash"] == digest and known["files"] == files:
                    known["stat"] = stat  # touched, not changed
                    report.unchanged += 1
                    continue
                state[rel] = self._upload(rel, files, digest, stat)
                report.pushed.append(rel)
            for rel in [r for r in state if r not in local and _within(r, prefixes)]:
                self._delete_remote(rel)
                del state[rel]
                report.removed.append(rel)
        report.seconds = time.perf_counter() - started
        return report

    # --- local side ------------------------------------------------------------------------------------------
    def _local(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def _local_units(self) -> dict[str, list[str]]:
        units: dict[str, list[str]] = {}
        if not self.root.is_dir():
            return units
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # atomic_dir staging is hidden
            files = sorted(n for n in filenames if not n.startswith("."))
            if files:
                rel = Path(dirpath).relative_to(self.root).as_posix()
                units["" if rel == "." else rel] = files
        return units

    def _stat(self, rel: str, files: Sequence[str]) -> str:
        h = hashlib.sha256()
        for name in files:
            try:
                st = (self._local(rel) / name).stat()
            except FileNotFoundError:
                h.update(f"{name}:missing;".encode())
                continue
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
        return h.hexdigest()[:16]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                path = self.root / STATE
                state = json.loads(path.read_text()) if path.exists() else {}
                if state.get("uri") not in (None, self.uri):
                    raise ValueError(f"{self.root} is the working copy of {state['uri']}, not {self.uri}; "
                                     f"give each artifact URI its own store.root")
                units = state.setdefault("units", {})
                try:
                    yield units
                finally:  # what was synced before a failure stays recorded, so it is not moved twice
                    with atomic_file(path) as tmp:
                        tmp.write_text(json.dumps({"uri": self.uri, "units": units}, sort_keys=True))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- remote side -----------------------------------------------------------------------------------------
    def _remote(self, rel: str) -> str:
        return f"{self.path}/{rel}" if rel else self.path

    def _remote_units(self) -> dict[str, str]:
        """{unit: signature of its manifest object} from one recursive listing."""
        try:
            listed = self.fs.find(self.path, detail=True)
        except FileNotFoundError:
            return {}
        units = {}
        for key, info in listed.items():
            key = key.rstrip("/")
            if not key.endswith(f"/{MANIFEST}") or f"/{VERSIONS}/" in key:
                continue
            rel = key[len(self.path):].strip("/")[: -len(MANIFEST)].strip("/")
            units[rel] = _signature(info)
        return units

    def _download(self, rel: str, signature: str, known: dict | None) -> dict[str, Any]:
        manifest = json.loads(self.fs.cat_file(f"{self._remote(rel)}/{MANIFEST}"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{self.uri}/{rel}: manifest format {manifest.get('format')!r}, expected {FORMAT}")
        folder = self._local(rel)
        folder.mkdir(parents=True, exist_ok=True)
        files = sorted(e["path"] for e in manifest["files"])
        if not (known and known["hash"] == manifest["content_hash"] and self._stat(rel, files) == known["stat"]):
            source = f"{self._remote(rel)}/{VERSIONS}/{manifest['version']}"
            for entry in manifest["files"]:
                target = folder / entry["path"]
                tmp = folder / f".{entry['path']}.{uuid.uuid4().hex[:8]}.pull"
                try:
                    self.fs.get_file(f"{source}/{entry['path']}", str(tmp))
                    if tmp.stat().st_size != entry["size"]:
                        raise OSError(f"{self.uri}/{rel}/{entry['path']}: {tmp.stat().st_size} bytes downloaded, "
                                      f"manifest says {entry['size']}; re-publish the artifact")
                    os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
            for name in (known or {}).get("files", []):
                if name not in files:
                    (folder / name).unlink(missing_ok=True)  # dropped from the unit by another node
            got = content_hash(*(folder / f for f in files))
            if got != manifest["content_hash"]:
                raise OSError(f"{self.uri}/{rel}: downloaded content hash {got} differs from the manifest's "
                              f"{manifest['content_hash']}; re-publish the artifact")
        return {"remote": signature, "hash": manifest["content_hash"], "files": files,
                "stat": self._stat(rel, files)}

    def _upload(self, rel: str, files: list[str], digest: str, stat: str) -> dict[str, Any]:
        base = self._remote(rel)
        try:
            previous = json.loads(self.fs.cat_file(f"{base}/{MANIFEST}"))
        except FileNotFoundError:
            previous = None
        if not (previous and previous.get("content_hash") == digest):
            version = f"{digest}-{uuid.uuid4().hex[:8]}"  # unique, so two writers never interleave files
            entries = []
            for name in files:
                local = self._local(rel) / name
                self.fs.put_file(str(local), f"{base}/{VERSIONS}/{version}/{name}")
                entries.append({"path": name, "size": local.stat().st_size})
            history = [version, *(previous or {}).get("history", [])][: max(1, self.objects.keep_versions)]
            manifest = {"format": FORMAT, "content_hash": digest, "version": version, "files": entries,
                        "history": history, "published_at": time.time()}
            staging = f"{base}/{VERSIONS}/{MANIFEST}.{uuid.uuid4().hex}.tmp"
            self.fs.pipe_file(staging, json.dumps(manifest, indent=2, sort_keys=True).encode())
            self.fs.mv(staging, f"{base}/{MANIFEST}")  # the one atomic step that makes the unit visible
            self.objects.collect_garbage(self.fs, base, keep=set(history))
        info = self.fs.info(f"{base}/{MANIFEST}")
        return {"remote": _signature(info), "hash": digest, "files": files, "stat": stat}

    def _delete_remote(self, rel: str) -> None:
        base = self._remote(rel)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{base}/{MANIFEST}")  # first: from now on readers see no unit
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(f"{base}/{VERSIONS}", recursive=True)


def _signature(info: dict) -> str:
    """What changes whenever a manifest object is rewritten (ETag on S3, mtime on a filesystem)."""
    parts = [info.get("ETag"), info.get("LastModified"), info.get("mtime"), info.get("size")]
    return "|".join(str(p) for p in parts if p is not None)


def _within(rel: str, prefixes: Sequence[str] | None) -> bool:
    if prefixes is None:
        return True
    return any(not p or rel == p.strip("/") or rel.startswith(p.strip("/") + "/") for p in prefixes)
