"""The subject index: which source rows mention a data subject (e-mail, phone, IBAN, card, customer/order id,
person name).

Built from the RAW source rows, before PII scrubbing: the scrubbed training text no longer says whose it was,
but the erasure request does. Only keyed hashes are stored (``salt.py``): the index answers "which rows mention
this value?" for someone who knows the value, and nothing to anyone who does not.

Incremental per drop: ``provenance/subjects/<source>/<drop>.parquet`` holds one drop's (subject_hash, kind,
source_row_id, origin) rows and is rebuilt only when that drop's ingested examples (or, when a source catalog is
given, its raw files) change. ``origin`` is ``examples`` (message text of the kept rows in
``sources/<source>/<drop>/examples.parquet``) or ``raw`` (every field of every readable row of the original
drop file, including rows that were filtered or later erased). The raw part is kept while no catalog is given,
so an erased row stays findable by subject after its drop is re-ingested without it.
``provenance/subject_index.parquet`` is the union, sorted by hash, which lookups read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from resources.layout import Layout
from resources.provenance.locking import locked
from resources.provenance.salt import keyed_hash, load_salt, salt_fingerprint
from resources.provenance.subject_values import (DEFAULT_COUNTRY_CODE, KINDS, extract_record, extract_text,
                                                 query_values)
from resources.schema import SOURCES, row_id

INDEX_COLUMNS = ("subject_hash", "kind", "source_row_id")
_DROP_COLUMNS = (*INDEX_COLUMNS, "origin")


def subjects_dir(artifact_root: Path | str) -> Path:
    return Path(artifact_root) / "provenance" / "subjects"


def subject_index_path(artifact_root: Path | str) -> Path:
    return Path(artifact_root) / "provenance" / "subject_index.parquet"


def _stat_stamp(paths: Iterable[Path]) -> str:
    # ingestion replaces a drop folder as a whole, so size + mtime change whenever the content does
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths if p.exists())


def build_subject_index(artifact_root: Path | str, *, catalog: Any = None,
                        country_code: str = DEFAULT_COUNTRY_CODE) -> Path:
    """Bring the subject index up to date with the ingested drops; returns the index path.

    ``catalog`` (a ``SourceCatalog``) adds the raw drop files' fields (e.g. a ``customer_id`` column that never
    reaches the messages). Drops whose files did not change since the last build are not read again.
    """
    root = Path(artifact_root)
    layout, folder = Layout(root), subjects_dir(root)
    salt = load_salt(root)
    with locked(folder):
        state_path = folder / "state.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        # a new kind of subject value (people by name, issue 20) rebuilds every drop's rows once
        fresh = (state.get("salt") != salt_fingerprint(salt) or state.get("country_code") != country_code
                 or state.get("kinds") != list(KINDS))
        old_drops = {} if fresh else state.get("drops", {})
        drops: dict[str, dict] = {}
        changed = fresh or not subject_index_path(root).exists()
        for source in SOURCES:
            raw_drops = catalog.list_drops(source) if catalog is not None else {}
            for drop_dir in layout.source_drops(source):
                key, drop = f"{source}/{drop_dir.name}", drop_dir.name
                examples = drop_dir / "examples.parquet"
                raw_files = _raw_files(raw_drops.get(drop))
                stamp = {"examples": _stat_stamp([examples]),
                         "raw": _stat_stamp(raw_files) if catalog is not None else old_drops.get(key, {}).get("raw")}
                drops[key] = stamp
                if old_drops.get(key) == stamp and (folder / f"{key}.parquet").exists():
                    continue
                previous = old_drops.get(key, {})
                rows = []
                rows += _rows_from_examples(examples, salt, country_code)
                if catalog is not None and raw_files:
                    rows += _rows_from_raw(source, drop, raw_files, salt, country_code)
                elif previous.get("raw"):
                    rows += _kept_raw_rows(folder / f"{key}.parquet")
                _write_drop(folder / f"{key}.parquet", rows)
                changed = True
        for gone in set(old_drops) - set(drops):
            (folder / f"{gone}.parquet").unlink(missing_ok=True)
            changed = True
        if changed:
            _write_union(root, [folder / f"{k}.parquet" for k in sorted(drops)])
        new_state = {"salt": salt_fingerprint(salt), "country_code": country_code, "kinds": list(KINDS),
                     "drops": drops}
        if new_state != state:  # a lookup on an unchanged index writes nothing (and imports no writer)
            from resources.storage import write_json

            write_json(state_path, new_state)
    return subject_index_path(root)


def _raw_files(drop_path: Path | None) -> list[Path]:
    if drop_path is None:
        return []
    from resources.sources.drops import drop_files

    return drop_files(Path(drop_path))


def _rows_from_examples(examples: Path, salt: bytes, country_code: str) -> list[tuple[str, str, str, str]]:
    if not examples.exists():
        return []
    import pyarrow.parquet as pq

    table = pq.read_table(examples, columns=["id", "messages"]).to_pydict()
    rows = []
    for rid, messages in zip(table["id"], table["messages"]):
        for message in json.loads(messages or "[]"):
            for kind, value in extract_text(str(message.get("content", "")), country_code):
                rows.append((keyed_hash(salt, value), kind, rid, "examples"))
    return rows


def _rows_from_raw(source: str, drop: str, files: list[Path], salt: bytes,
                   country_code: str) -> list[tuple[str, str, str, str]]:
    """Row numbers exactly as ``resources/sources/ingest.py`` assigns them (line in a one-file drop, else a
    running count over the folder's files in name order, rejected rows included)."""
    from resources.sources.files import Rejection, read_rows

    rows, counter = [], 0
    for path in files:
        for item in read_rows(path):
            counter += 1
            if isinstance(item, Rejection):
                continue
            rid = row_id(source, drop, item.line if len(files) == 1 else counter)
            for kind, value in extract_record(item.record, country_code):
                rows.append((keyed_hash(salt, value), kind, rid, "raw"))
    return rows


def _kept_raw_rows(path: Path) -> list[tuple[str, str, str, str]]:
    if not path.exists():
        return []
    import pyarrow.parquet as pq

    t = pq.read_table(path).to_pydict()
    return [r for r in zip(*(t[c] for c in _DROP_COLUMNS)) if r[3] == "raw"]


def _table(rows: list[tuple], columns: tuple[str, ...]):
    import pyarrow as pa

    rows = sorted(set(rows))
    return pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})


def _write_drop(path: Path, rows: list[tuple]) -> None:
    import pyarrow.parquet as pq

    from resources.storage import atomic_file

    with atomic_file(path) as tmp:
        pq.write_table(_table(rows, _DROP_COLUMNS), tmp, compression="zstd")


def _write_union(root: Path, parts: list[Path]) -> None:
    import pyarrow.parquet as pq

    from resources.storage import atomic_file

    rows = set()
    for part in parts:
        if part.exists():
            t = pq.read_table(part, columns=list(INDEX_COLUMNS)).to_pydict()
            rows.update(zip(*(t[c] for c in INDEX_COLUMNS)))
    with atomic_file(subject_index_path(root)) as tmp:
        pq.write_table(_table(list(rows), INDEX_COLUMNS), tmp, compression="zstd")


def subject_hashes(artifact_root: Path | str, value: str, country_code: str = DEFAULT_COUNTRY_CODE) -> list[str]:
    """The keyed hashes of every normalised reading of ``value`` (the kind of a queried value is unknown)."""
    salt = load_salt(artifact_root)
    return sorted({keyed_hash(salt, v) for _, v in query_values(value, country_code)})


def rows_for_hashes(artifact_root: Path | str, hashes: Iterable[str]) -> list[dict[str, str]]:
    """Index rows (subject_hash, kind, source_row_id) for the given subject hashes."""
    path = subject_index_path(artifact_root)
    hashes = sorted(set(hashes))
    if not path.exists() or not hashes:
        return []
    from resources.provenance.record_index import read_matching

    return read_matching(path, "subject_hash", hashes, INDEX_COLUMNS)
