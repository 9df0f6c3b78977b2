"""Which training sets and model versions contain a record, or any record that mentions a data subject.

A record is found directly (it is a training example) or through a duplicate it was merged into: deduplication
keeps one survivor per cluster and lists the absorbed rows in the survivor's ``origin_ids``, and a model trained
on the survivor was trained on their content too. Every hit names the training record that carries the row.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from resources.provenance.record_index import hits_for_rows, model_versions, refresh_record_index


def lookup(artifact_root: Path | str, *, record: str | None = None, subject: str | None = None,
           catalog: Any = None, refresh: bool = True) -> dict[str, Any]:
    """Every record set and model version holding ``record`` (a source row id) or the rows mentioning ``subject``.

    ``refresh`` first brings the subject and record-set indexes up to date (only changed drops and new record
    sets are read). The answer never contains the subject's plain value, only its keyed hashes.
    """
    if bool(record) == bool(subject):
        raise ValueError("give exactly one of record (a source row id like reviewed_interactions/2026-11-01/7) "
                         "or subject (an e-mail address, phone number, IBAN, customer or order id)")
    started = time.perf_counter()
    root = Path(artifact_root)
    versions = model_versions(root)
    if refresh:
        refresh_record_index(root, versions)
    rows: dict[str, set[str]] = {}  # source row id -> how it was found
    query: dict[str, Any] = {}
    if record:
        rows[record.strip()] = {"record id"}
        query["record"] = record.strip()
    else:
        from resources.provenance.erasure_log import rows_by_subject_hash
        from resources.provenance.subjects import build_subject_index, rows_for_hashes, subject_hashes

        if refresh:
            build_subject_index(root, catalog=catalog)
        hashes = subject_hashes(root, subject)
        query["subject_hashes"] = hashes
        for r in rows_for_hashes(root, hashes):
            rows.setdefault(r["source_row_id"], set()).add(f"subject index ({r['kind']})")
        for rids in rows_by_subject_hash(root, set(hashes)).values():
            for rid in rids:
                rows.setdefault(rid, set()).add("erasure log")
    hits = hits_for_rows(root, rows)
    by_set: dict[str, list[dict]] = {}
    for h in hits:
        via = "direct" if h["source_row_id"] == h["training_record"] else "absorbed duplicate"
        by_set.setdefault(h["record_set"], []).append(
            {"source_row_id": h["source_row_id"], "training_record": h["training_record"], "via": via})
    for found in by_set.values():
        found.sort(key=lambda x: (x["source_row_id"], x["training_record"]))
    affected_versions = [{**v, "hits": by_set[v["record_set"]]} for v in versions if v["record_set"] in by_set]
    unknown = [v for v in versions if v["record_set"] is None]
    return {
        "query": query,
        "source_rows": [{"source_row_id": r, "found_via": sorted(how)} for r, how in sorted(rows.items())],
        "training_sets": [{"record_set": s, "hits": by_set[s]} for s in sorted(by_set)],
        "model_versions": affected_versions,
        # a version whose record set is missing cannot be cleared: say so instead of silently omitting it
        "unverifiable_versions": [{"model": v["model"], "version": v["version"],
                                   "training_records": v["training_records"]} for v in unknown],
        "seconds": round(time.perf_counter() - started, 4),
    }


def summary_lines(answer: dict[str, Any]) -> list[str]:
    """The answer as short human-readable lines (CLI output, run logs)."""
    rows = answer["source_rows"]
    lines = [f"{len(rows)} source row(s): " + ", ".join(r["source_row_id"] for r in rows[:20]) if rows
             else "no source row mentions it (values are matched after normalisation: case, spaces, formatting)"]
    lines.append(f"{len(answer['training_sets'])} training set(s):")
    for s in answer["training_sets"]:
        lines.append(f"  {Path(s['record_set']).name}")
        lines += [f"    {h['source_row_id']} -> {h['training_record']} ({h['via']})" for h in s["hits"]]
    lines.append(f"{len(answer['model_versions'])} model version(s):")
    for v in answer["model_versions"]:
        marks = (["PROMOTED"] if v["promoted"] else []) + v["flags"]
        lines.append(f"  {v['model']} {v['version']}" + (f" [{', '.join(marks)}]" if marks else ""))
    for v in answer["unverifiable_versions"]:
        lines.append(f"  WARNING {v['model']} {v['version']}: training records {v['training_records']!r} missing; "
                     "cannot tell whether it contains the record")
    lines.append(f"answered in {answer['seconds'] * 1000:.0f} ms")
    return lines
