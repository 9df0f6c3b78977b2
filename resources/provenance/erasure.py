"""Applying an erasure request: tombstone the rows, flag the models trained on them, log what was done.

Steps, each idempotent so a crashed or repeated application is safe:
1. read the request (``request_file.py``) and resolve its subjects to source rows through the subject index
   (and through earlier requests' resolved rows, for rows already gone from the ingested drops);
2. widen to duplicates: a row merged into another example by deduplication (or one that absorbed it) is
   near-identical content, so it goes too unless ``expand_duplicates=False``;
3. append the rows to the tombstone list, which the source assets apply on their next ingest of the drop, and
   remove them from the dedup MinHash index (else a later copy of the erased text would be dropped as a
   duplicate of a row that no longer exists, and its provenance would name the erased row);
4. mark every model version trained on any of the rows ``contains_erased_data`` (a blocking flag: the registry
   refuses to promote it, or roll back to it);
5. append the request, its resolved rows (subjects only as keyed hashes) and the flagged versions to
   ``erasure/requests.jsonl``.
The caller re-ingests ``affected_drops`` (the sensor requests those runs), so the next training set lacks them.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from resources.provenance.erasure_log import append_entry, entries, rows_by_subject_hash
from resources.provenance.record_index import hits_for_rows, model_versions, refresh_record_index
from resources.provenance.request_file import parse_row_id, read_request
from resources.provenance.tombstones import add_tombstones

ERASED_FLAG = "contains_erased_data"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def apply_request(artifact_root: Path | str, request_path: Path | str, *, catalog: Any = None,
                  expand_duplicates: bool = True) -> dict[str, Any]:
    """Apply one request file; returns the log entry (what was removed, which versions and drops it affected).

    A file already applied with the same content returns its earlier entry with ``already_applied: True``.
    """
    from resources.provenance.subjects import build_subject_index, rows_for_hashes, subject_hashes

    root = Path(artifact_root)
    request = read_request(request_path)
    for earlier in entries(root):
        if earlier.get("request_id") == request.request_id and earlier.get("content_hash") == request.content_hash:
            return {**earlier, "already_applied": True}

    build_subject_index(root, catalog=catalog)
    subject_rows: dict[str, list[str]] = {}
    unresolved = 0
    for subject in request.subjects:
        hashes = subject_hashes(root, subject)
        found = {h: set() for h in hashes}
        for r in rows_for_hashes(root, hashes):
            found[r["subject_hash"]].add(r["source_row_id"])
        for h, rows in rows_by_subject_hash(root, set(hashes)).items():
            found[h].update(rows)
        unresolved += not any(found.values())
        for h, rows in found.items():
            subject_rows[h] = sorted(set(subject_rows.get(h, [])) | rows)
    named = set(request.ids) | {r for rows in subject_rows.values() for r in rows}

    versions = model_versions(root)
    refresh_record_index(root, versions)
    expanded = _duplicates_of(root, named) - named if expand_duplicates else set()
    rows = named | expanded
    at = _now()
    new = add_tombstones(root, rows, request_id=request.request_id, erased_at=at)
    from resources.dedup.index_upkeep import erase_from_index
    from resources.layout import Layout

    unindexed = erase_from_index(Layout(root).minhash_index(), rows)
    affected = _flag_versions(root, versions, rows, request.request_id)

    entry = {
        "request_id": request.request_id, "requested_by": request.requested_by, "file": request.file,
        "content_hash": request.content_hash, "applied_at": at,
        "ids_requested": request.ids, "subjects_requested": len(request.subjects),
        "subjects_unresolved": unresolved, "subject_rows": subject_rows,
        "rows": sorted(rows), "expanded_duplicates": sorted(expanded), "newly_tombstoned": len(new),
        "removed_from_dedup_index": len(unindexed),
        "affected_drops": sorted({f"{s}/{d}" for s, d, _ in filter(None, map(parse_row_id, rows))}),
        "affected_versions": affected,
    }
    append_entry(root, entry)
    return {**entry, "already_applied": False}


def _duplicates_of(root: Path, rows: set[str]) -> set[str]:
    """Every row sharing a training record with one of ``rows``, in any record set or the current dedup output."""
    carriers = {h["training_record"] for h in hits_for_rows(root, rows)}
    out = set(rows)
    if carriers:
        from resources.provenance.record_index import read_matching, record_index_path

        out.update(r["source_row_id"] for r in read_matching(record_index_path(root), "training_record",
                                                             sorted(carriers), ("source_row_id", "training_record")))
    from resources.layout import Layout

    current = Layout(root).deduplicated() / "examples.parquet"
    if current.exists():
        import pyarrow.parquet as pq

        t = pq.read_table(current, columns=["id", "origin_ids"]).to_pydict()
        for rid, origins in zip(t["id"], t["origin_ids"]):
            group = {rid, *json.loads(origins or "[]")}
            if group & rows:
                out.update(group)
    return out


def _flag_versions(root: Path, versions: list[dict], rows: set[str], request_id: str) -> list[dict]:
    from resources.layout import Layout
    from resources.publishing.registry import Registry

    sets = {h["record_set"] for h in hits_for_rows(root, rows)}
    affected = []
    for v in versions:
        if v["record_set"] not in sets:
            continue
        registry = Registry(Layout(root).registry_root(), v["model"])
        earlier = registry.flags(v["version"]).get(ERASED_FLAG, {}).get("detail") or {}
        requests = sorted(set(earlier.get("requests", []) if isinstance(earlier, dict) else []) | {request_id})
        registry.mark(v["version"], ERASED_FLAG, {"requests": requests})
        affected.append({"model": v["model"], "version": v["version"], "promoted": v["promoted"]})
    return affected
