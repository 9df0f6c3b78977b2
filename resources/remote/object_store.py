"""Artifact folders in object storage (``s3://bucket/prefix/...``, or any fsspec URL), published atomically.

Object stores have no rename and no multi-key transaction, so a folder cannot appear "all at once" the way
``resources/storage.atomic_dir`` makes it appear on a local disk. What they do have is an atomic single-key
write. Publishing therefore goes:

1. upload every file to ``<uri>/_versions/<content_hash>/...``: nothing points there yet, so to readers it is an
   invisible temporary area (an interrupted upload leaves only unreferenced objects);
2. write the manifest to a temporary key, then move it to ``<uri>/_COMPLETE`` (one atomic object write): the
   manifest names the version folder, every file and its size. This is the moment the folder appears.

Readers start from ``_COMPLETE`` and fetch exactly the files it lists from the version it names, so they see
either the previous complete version or the new complete one, never a mix. Old versions are deleted only after
a newer manifest is in place, keeping ``keep_versions`` so a reader mid-download is not pulled from under.

The content hash is ``resources.storage.content_hash`` of the local folder, so an artifact has the same data
version in Dagster whether it lives on a local disk or in a bucket, and re-uploading identical data is a no-op.

Endpoint and credentials come only from the environment: the standard ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` / ``AWS_DEFAULT_REGION`` (or an IAM role on the node), plus
``PRIVFT_S3_ENDPOINT_URL`` for an S3-compatible server (MinIO, Ceph, moto).

Local cache: ``fetch(uri)`` downloads a published folder once per node into
``<cache_root>/<hash of uri>/<content_hash>/`` and returns that path; later calls (other pods on the same node
mounting the same cache volume) reuse it. Because the cache key is the content hash read from the manifest, a
re-published artifact is downloaded again and a stale copy is never served.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resources.storage import atomic_dir, content_hash as local_content_hash

MANIFEST = "_COMPLETE"
VERSIONS = "_versions"
FORMAT = 1


def storage_options(uri: str) -> dict[str, Any]:
    """fsspec options for ``uri``, from the environment only (never from configuration files)."""
    if uri.startswith(("file://", "local://")) or "://" not in uri:
        return {"auto_mkdir": True}  # object stores have no folders; a filesystem needs them created
    if not uri.startswith(("s3://", "s3a://")):
        return {}
    # fsspec reuses one client per set of options (cheap calls); listings are never cached, because another pod
    # may publish at any moment.
    options: dict[str, Any] = {"use_listings_cache": False}
    endpoint = os.environ.get("PRIVFT_S3_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def _files(local: Path) -> list[Path]:
    """Files that are content (the same rule as resources.storage.content_hash: hidden names are temporaries)."""
    out = []
    for f in sorted(local.rglob("*")):
        rel = f.relative_to(local).as_posix()
        if f.is_file() and not (rel.startswith(".") or "/." in rel):
            out.append(f)
    return out


@dataclass
class ObjectStore:
    """Publish and fetch artifact folders under a URI such as ``s3://privft-artifacts/prod``.

    Plain Python (no dagster), so the training process can use it in a pod.
    """

    cache_root: str = "~/.cache/privft/objects"
    keep_versions: int = 2
    verify_downloads: bool = True

    # --- plumbing --------------------------------------------------------------------------------------------
    def filesystem(self, uri: str):
        """(fsspec filesystem, path without protocol) for ``uri``."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri, **storage_options(uri))
        return fs, path.rstrip("/")

    def _read_manifest(self, fs, path: str) -> dict | None:
        try:
            return json.loads(fs.cat_file(f"{path}/{MANIFEST}"))
        except FileNotFoundError:
            return None

    def manifest(self, uri: str) -> dict:
        """The published manifest of ``uri``; FileNotFoundError (with what to do) when nothing is published."""
        fs, path = self.filesystem(uri)
        found = self._read_manifest(fs, path)
        if found is None:
            raise FileNotFoundError(f"{uri}: no complete artifact ({MANIFEST} missing). It was never published or "
                                    f"its upload was interrupted; re-materialise the asset that writes it.")
        if found.get("format") != FORMAT:
            raise ValueError(f"{uri}/{MANIFEST}: manifest format {found.get('format')!r}, expected {FORMAT}; "
                             f"upgrade privft on this node")
        return found

    # --- the API ---------------------------------------------------------------------------------------------
    def exists(self, uri: str) -> bool:
        """True when a complete artifact is published at ``uri`` (an interrupted upload does not count)."""
        fs, path = self.filesystem(uri)
        return fs.exists(f"{path}/{MANIFEST}")

    def content_hash(self, uri: str) -> str:
        """Data version of the published artifact (equal to resources.storage.content_hash of its local copy)."""
        return self.manifest(uri)["content_hash"]

    def upload_dir(self, local: Path | str, uri: str) -> dict:
        """Publish the folder ``local`` at ``uri`` atomically; returns the manifest. Idempotent for equal content."""
        local = Path(local)
        if not local.is_dir():
            raise NotADirectoryError(f"{local}: not a folder; upload_dir publishes whole artifact folders")
        files = _files(local)
        if not files:
            raise ValueError(f"{local}: empty folder; refusing to publish an artifact with no files")
        digest = local_content_hash(local)
        fs, path = self.filesystem(uri)
        previous = self._read_manifest(fs, path)
        if previous and previous.get("content_hash") == digest:
            return previous  # already published: nothing to do, and nothing downstream sees a change

        version = f"{digest}-{uuid.uuid4().hex[:8]}"  # unique, so two writers never interleave files
        version_path = f"{path}/{VERSIONS}/{version}"
        entries = []
        for f in files:
            rel = f.relative_to(local).as_posix()
            fs.put_file(str(f), f"{version_path}/{rel}")
            entries.append({"path": rel, "size": f.stat().st_size})

        history = [version, *(previous or {}).get("history", [])]
        manifest = {"format": FORMAT, "content_hash": digest, "version": version, "files": entries,
                    "history": history[: max(1, self.keep_versions)], "published_at": time.time()}
        staging = f"{path}/{VERSIONS}/{MANIFEST}.{uuid.uuid4().hex}.tmp"
        fs.pipe_file(staging, json.dumps(manifest, indent=2, sort_keys=True).encode())
        # The one atomic step that makes the new version visible: a server-side copy of one object on S3, a
        # rename on a local or network filesystem.
        fs.mv(staging, f"{path}/{MANIFEST}")
        self.collect_garbage(fs, path, keep=set(manifest["history"]))
        return manifest

    def download_dir(self, uri: str, local: Path | str) -> Path:
        """Fetch the published folder at ``uri`` into ``local`` (replaced atomically); returns ``local``."""
        fs, path = self.filesystem(uri)
        manifest = self.manifest(uri)
        source = f"{path}/{VERSIONS}/{manifest['version']}"
        with atomic_dir(local) as tmp:
            for entry in manifest["files"]:
                target = tmp / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(f"{source}/{entry['path']}", str(target))
                if target.stat().st_size != entry["size"]:
                    raise OSError(f"{uri}: {entry['path']} has {target.stat().st_size} bytes, manifest says "
                                  f"{entry['size']}; the version folder was damaged, re-publish the artifact")
            if self.verify_downloads and local_content_hash(tmp) != manifest["content_hash"]:
                raise OSError(f"{uri}: downloaded content does not match manifest hash {manifest['content_hash']}; "
                              f"re-publish the artifact")
        return Path(local)

    def fetch(self, uri: str) -> Path:
        """Local read-only copy of the published folder at ``uri``, through the node's cache."""
        digest = self.content_hash(uri)
        slot = Path(self.cache_root).expanduser() / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
        target = slot / digest
        if not target.is_dir():
            self.download_dir(uri, target)
        for stale in slot.iterdir():
            if stale.name != digest and not stale.name.startswith("."):
                shutil.rmtree(stale, ignore_errors=True)
        return target

    # --- housekeeping ----------------------------------------------------------------------------------------
    def collect_garbage(self, fs, path: str, keep: set[str]) -> None:
        """Remove version folders no manifest in the history names (older versions, interrupted uploads)."""
        try:
            listed = fs.ls(f"{path}/{VERSIONS}", detail=False)
        except FileNotFoundError:
            return
        for entry in listed:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name not in keep and not name.startswith(MANIFEST):
                fs.rm(entry, recursive=True)
