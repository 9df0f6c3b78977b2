"""Reverse index of every training set: source row id -> the training record that carries it, per record set.

A record set (``provenance/record_sets/<hash>.parquet``, or wherever a model manifest's ``training_records``
points) lists each training example id with its ``origin_ids``: the example's own source row plus every
duplicate and near-duplicate it absorbed. Answering "which training sets hold row X?" by opening every set and
parsing every JSON list is slow once there are many sets, so the exploded (source_row_id, training_record,
record_set) table is cached in ``provenance/record_index.parquet`` and rebuilt only when the set of record-set
files changes (they are content-addressed, so a file never changes under the same name).
"""

from __future__ import annotations

import json
from pathlib import Path

from resources.layout import Layout
from resources.provenance.locking import locked

COLUMNS = ("source_row_id", "training_record", "record_set")
# file names inside a registry model folder (resources/publishing/registry.py: POINTER, HISTORY, FLAGS)
POINTER, HISTORY, FLAGS = "promoted.json", "history.jsonl", "flags.json"


def record_index_path(artifact_root: Path | str) -> Path:
    return Path(artifact_root) / "provenance" / "record_index.parquet"


def resolve_record_set(artifact_root: Path | str, value: str | None,
                       version_dir: Path | str | None = None) -> Path | None:
    """A manifest's ``training_records`` as a path: inside the version folder (where publishing copies it),
    absolute, relative to the artifact root or the working folder, or by file name in the record-set folder
    (artifact roots get moved and restored from backups)."""
    if not value:
        return None
    root, p = Path(artifact_root), Path(value)
    inside = [Path(version_dir) / p] if version_dir is not None and not p.is_absolute() else []
    for candidate in (*inside, p, root / p, Layout(root).record_sets() / p.name):
        if candidate.is_file():
            return candidate.resolve()
    return None


def model_versions(artifact_root: Path | str) -> list[dict]:
    """Every published model version with its record set, flags and whether it is the promoted one.

    Reads the registry's files directly (layout documented in ``resources/publishing/registry.py``) rather than
    through ``Registry``, whose module loads Dagster: a command-line lookup must answer within a second.
    """
    base = Layout(artifact_root).registry_root()
    found = []
    for model_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if base.is_dir() else []:
        promoted = _json(model_dir / POINTER, {}).get("version")
        for version in _published(model_dir):
            manifest = _json(model_dir / version / "manifest.json", {})
            # the shared set first (the one training sets are indexed by), else the version's own copy
            record_set = resolve_record_set(artifact_root, manifest.get("training_record_set")) or \
                resolve_record_set(artifact_root, manifest.get("training_records"), model_dir / version)
            found.append({"model": model_dir.name, "version": version, "promoted": version == promoted,
                          "flags": sorted(_json(model_dir / version / FLAGS, {})),
                          "training_records": manifest.get("training_records"),
                          "record_set": str(record_set) if record_set else None})
    return found


def _json(path: Path, default):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def _published(model_dir: Path) -> list[str]:
    """Version folders in publish order (as ``Registry.versions``), oldest first."""
    order: dict[str, int] = {}
    history = model_dir / HISTORY
    if history.exists():
        for line in history.read_text(encoding="utf-8").splitlines():
            event = json.loads(line) if line.strip() else {}
            if event.get("event") == "publish":
                order.setdefault(event["version"], len(order))
    found = [p.name for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(found, key=lambda v: (order.get(v, len(order)), v))


def record_set_files(artifact_root: Path | str, versions: list[dict] | None = None) -> list[Path]:
    folder = Layout(artifact_root).record_sets()
    files = {p.resolve() for p in folder.glob("*.parquet") if not p.name.startswith(".")} if folder.is_dir() else set()
    for v in model_versions(artifact_root) if versions is None else versions:
        if v["record_set"]:
            files.add(Path(v["record_set"]))
    return sorted(files)


def refresh_record_index(artifact_root: Path | str, versions: list[dict] | None = None) -> Path:
    """Rebuild the cached reverse index if a record-set file appeared or disappeared; returns its path."""
    root = Path(artifact_root)
    path = record_index_path(root)
    files = record_set_files(root, versions)
    stamp = [str(f) for f in files]
    state_path = path.with_name("record_index.json")
    if path.exists() and state_path.exists() and json.loads(state_path.read_text()) == stamp:
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    from resources.storage import atomic_file, write_json

    with locked(path.parent, ".record_index.lock"):
        rows: set[tuple[str, str, str]] = set()
        for f in files:
            t = pq.read_table(f, columns=["id", "origin_ids"]).to_pydict()
            for rid, origins in zip(t["id"], t["origin_ids"]):
                ids = json.loads(origins) if isinstance(origins, str) else list(origins or [])
                rows.update((str(o), str(rid), str(f)) for o in {*ids, rid})
        ordered = sorted(rows)
        table = pa.table({c: pa.array([r[i] for r in ordered], pa.string()) for i, c in enumerate(COLUMNS)})
        with atomic_file(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        write_json(state_path, stamp)
    return path


def hits_for_rows(artifact_root: Path | str, row_ids: set[str] | list[str]) -> list[dict[str, str]]:
    """(source_row_id, training_record, record_set) for every record set holding one of ``row_ids``."""
    path = record_index_path(artifact_root)
    ids = sorted(set(row_ids))
    if not path.exists() or not ids:
        return []
    return read_matching(path, "source_row_id", ids, COLUMNS)


def read_matching(path: Path, column: str, values: list[str], columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a small Parquet table whose ``column`` is in ``values``.

    Plain ``ParquetFile`` and a Python set: ``read_table(filters=...)`` and ``pyarrow.compute`` load
    pyarrow.dataset and pandas, which would cost a command-line lookup more than its whole second.
    """
    import pyarrow.parquet as pq

    wanted = set(values)
    t = pq.ParquetFile(path).read(columns=list(columns)).to_pydict()
    return [dict(zip(columns, r)) for r in zip(*(t[c] for c in columns)) if r[columns.index(column)] in wanted]
