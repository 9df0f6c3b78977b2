"""Artifact folders in a real S3-compatible server (moto in server mode on 127.0.0.1), published atomically."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from resources.remote.object_store import MANIFEST, ObjectStore
from resources.storage import content_hash
from servers import bucket, s3_server  # noqa: F401  (fixtures)


def make_folder(root: Path, version: str) -> Path:
    """An artifact shaped like a checkpoint: nested files, a binary blob, and a temporary that is not content."""
    (root / "tokenizer").mkdir(parents=True)
    (root / "adapter_config.json").write_text(f'{{"r": 8, "version": "{version}"}}')
    (root / "adapter_model.safetensors").write_bytes(version.encode() * 50_000)
    (root / "tokenizer" / "tokenizer.json").write_text('{"vocab": ["a", "b"]}')
    (root / ".adapter_model.safetensors.123.tmp").write_bytes(b"half-written")
    return root


def listing(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class CutAfter:
    """The store's filesystem, except that the connection drops after ``n`` uploaded files."""

    def __init__(self, fs, n: int):
        self._fs, self._left = fs, n

    def put_file(self, *args, **kwargs):
        if self._left == 0:
            raise ConnectionResetError("simulated network cut during upload")
        self._left -= 1
        return self._fs.put_file(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._fs, name)


@contextlib.contextmanager
def cut_uploads(n: int):
    real = ObjectStore.filesystem

    def cut(self, uri):
        fs, path = real(self, uri)
        return CutAfter(fs, n), path

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ObjectStore, "filesystem", cut)
        yield


def test_round_trip_is_exact_and_hash_matches_local(bucket, tmp_path):
    store = ObjectStore(cache_root=str(tmp_path / "cache"))
    local = make_folder(tmp_path / "checkpoint-000002", "v1")
    uri = f"{bucket}/adapters/run1/checkpoint-000002"

    assert not store.exists(uri)
    manifest = store.upload_dir(local, uri)
    assert store.exists(uri)
    assert store.content_hash(uri) == content_hash(local) == manifest["content_hash"]
    assert sorted(f["path"] for f in manifest["files"]) == [
        "adapter_config.json", "adapter_model.safetensors", "tokenizer/tokenizer.json"]  # no temporaries

    copy = store.download_dir(uri, tmp_path / "copy")
    expected = {k: v for k, v in listing(local).items() if not k.startswith(".")}
    assert listing(copy) == expected
    assert content_hash(copy) == content_hash(local)

    # Identical content again: no new version is written and the data version does not change.
    fs, path = store.filesystem(uri)
    versions_before = fs.ls(f"{path}/_versions", detail=False)
    assert store.upload_dir(local, uri)["version"] == manifest["version"]
    assert fs.ls(f"{path}/_versions", detail=False) == versions_before


def test_interrupted_first_upload_leaves_nothing_visible(bucket, tmp_path):
    store = ObjectStore(cache_root=str(tmp_path / "cache"))
    local = make_folder(tmp_path / "datasets", "v1")
    uri = f"{bucket}/prepared/datasets"

    with cut_uploads(n=1), pytest.raises(ConnectionResetError):
        store.upload_dir(local, uri)

    fs, path = store.filesystem(uri)
    assert len(fs.find(path)) == 1, "one file did reach the bucket (so the cut happened mid-folder)"
    assert not store.exists(uri)
    with pytest.raises(FileNotFoundError, match="re-materialise"):
        store.download_dir(uri, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_interrupted_republish_keeps_previous_version_readable(bucket, tmp_path):
    store = ObjectStore(cache_root=str(tmp_path / "cache"))
    uri = f"{bucket}/models/support-bot"
    v1 = make_folder(tmp_path / "v1", "v1")
    v2 = make_folder(tmp_path / "v2", "v2")
    store.upload_dir(v1, uri)

    with cut_uploads(n=2), pytest.raises(ConnectionResetError):
        store.upload_dir(v2, uri)
    assert store.content_hash(uri) == content_hash(v1)
    assert listing(store.download_dir(uri, tmp_path / "read")) == {k: v for k, v in listing(v1).items()
                                                                   if not k.startswith(".")}

    # The next complete publish wins and garbage-collects the interrupted upload, keeping v1 for late readers.
    manifest = store.upload_dir(v2, uri)
    assert store.content_hash(uri) == content_hash(v2)
    fs, path = store.filesystem(uri)
    versions = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{path}/_versions", detail=False))
    assert versions == sorted(manifest["history"]) and len(versions) == 2
    assert fs.exists(f"{path}/{MANIFEST}")


def test_node_cache_downloads_once_and_follows_republish(bucket, tmp_path):
    store = ObjectStore(cache_root=str(tmp_path / "node-cache"))
    uri = f"{bucket}/prepared/datasets"
    store.upload_dir(make_folder(tmp_path / "v1", "v1"), uri)

    first = store.fetch(uri)
    assert (first / "adapter_config.json").read_text().endswith('"v1"}')

    def no_download(*args, **kwargs):
        raise AssertionError("a cached artifact was downloaded again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ObjectStore, "download_dir", no_download)
        assert store.fetch(uri) == first  # a second pod on the same node: served from the cache

    store.upload_dir(make_folder(tmp_path / "v2", "v2"), uri)
    second = store.fetch(uri)
    assert second != first and not first.exists(), "stale cache entry must be replaced"
    assert (second / "adapter_config.json").read_text().endswith('"v2"}')


def test_credentials_and_endpoint_come_from_environment(bucket, monkeypatch, tmp_path):
    store = ObjectStore(cache_root=str(tmp_path / "cache"))
    monkeypatch.setenv("PRIVFT_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(Exception):
        store.exists(f"{bucket}/anything")
    import dataclasses

    fields = {f.name for f in dataclasses.fields(ObjectStore)}
    assert "endpoint_url" not in fields and "aws_secret_access_key" not in fields


def test_same_api_on_a_shared_filesystem(tmp_path):
    """file:// (an NFS or Lustre mount shared by the nodes) publishes with the same atomic protocol."""
    store = ObjectStore(cache_root=str(tmp_path / "cache"))
    uri = f"file://{tmp_path / 'shared' / 'datasets'}"
    local = make_folder(tmp_path / "v1", "v1")
    store.upload_dir(local, uri)
    assert store.content_hash(uri) == content_hash(local)
    assert content_hash(store.fetch(uri)) == content_hash(local)
