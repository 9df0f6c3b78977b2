"""Artifact storage: where datasets, checkpoints, reports and models live, written atomically.

Every artifact is written into a temporary sibling and then published with one ``os.replace`` (a rename within
one filesystem), so a reader sees either the previous complete version or the new complete one, never a
half-written file or folder. Assets pass the resulting paths between each other, never pickled objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; publish it as ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``target``; on success it replaces ``target`` as a whole.

    An existing ``target`` is first renamed aside and removed after the new one is in place, so at every moment
    the path holds either the old or the new complete folder (or, between two renames, nothing at all, which a
    reader treats as "not there yet" rather than as a partial artifact).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(target: Path | str, obj: Any) -> Path:
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True, default=str), encoding="utf-8")
    return Path(target)


def write_jsonl(target: Path | str, rows: Iterable[dict[str, Any]]) -> Path:
    with atomic_file(target) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True, default=str) + "\n")
    return Path(target)


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """The rows ``write_jsonl`` wrote (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_parquet(target: Path | str, frame) -> Path:
    """Write a pandas DataFrame as Parquet without index and without volatile metadata, so equal data hashes equal."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    with atomic_file(target) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    return Path(target)


def read_parquet(path: Path | str):
    import pandas as pd

    return pd.read_parquet(path)


def content_hash(*paths: Path | str) -> str:
    """SHA-256 over the bytes of the given files and folders (relative names included, in sorted order).

    This is the data version every asset reports: re-materialising identical data yields the same hash, so
    Dagster does not see a change and nothing downstream re-runs.
    """
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            rel = f.relative_to(p).as_posix() if p.is_dir() else f.name
            if rel.startswith(".") or "/." in rel:
                continue  # temporaries and hidden bookkeeping are not content
            h.update(os.fsencode(rel) + b"\0")  # fsencode: names that are not UTF-8 too
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\0")
    return h.hexdigest()[:16]
