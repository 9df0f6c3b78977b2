"""Apply deduplication decisions: survivors absorb the ids of their duplicates; the rest go to the ledger."""

from __future__ import annotations

import json

import pandas as pd

from resources.schema import DUPLICATE, LEDGER_COLUMNS, example_text, ledger_entry


def apply_duplicates(examples: pd.DataFrame, decisions: pd.DataFrame, upstream_ledger: pd.DataFrame):
    """Return (kept examples, ledger, clusters, preview).

    ``decisions`` has one row per example id with ``duplicate_of`` (None for survivors). Each survivor's
    ``origin_ids`` gains the origin ids of every row it absorbed, so provenance follows a record through a
    near-duplicate: a model trained on the survivor counts as trained on the absorbed rows too.
    """
    dup_of = {r.id: r.duplicate_of for r in decisions.itertuples() if isinstance(r.duplicate_of, str) and r.duplicate_of}
    kind = dict(zip(decisions["id"], decisions["kind"]))
    sim = dict(zip(decisions["id"], decisions.get("similarity", pd.Series([None] * len(decisions)))))
    by_id = {r["id"]: r for r in examples.to_dict("records")}

    absorbed: dict[str, list[str]] = {}
    for dup, survivor in dup_of.items():
        absorbed.setdefault(survivor, []).extend(json.loads(by_id[dup]["origin_ids"]) if dup in by_id else [dup])

    kept = examples[~examples["id"].isin(dup_of)].copy()
    kept["origin_ids"] = [
        json.dumps(sorted(set(json.loads(o)) | set(absorbed.get(i, []))))
        for i, o in zip(kept["id"], kept["origin_ids"])
    ]

    upstream = {r["id"]: r for r in upstream_ledger.to_dict("records")}
    ledger_rows = []
    for dup, survivor in sorted(dup_of.items()):
        up = upstream.get(dup, {})
        ledger_rows.append(ledger_entry(
            id=dup, source=up.get("source", by_id.get(dup, {}).get("source", "")),
            drop=up.get("drop", by_id.get(dup, {}).get("drop", "")), file=up.get("file", ""),
            line=int(up.get("line", 0) or 0), state=DUPLICATE, reason=f"{kind.get(dup) or 'near'} duplicate",
            duplicate_of=survivor, stage="dedup"))
    dedup_ledger = pd.DataFrame(ledger_rows, columns=list(LEDGER_COLUMNS))
    from resources.prepare.accounting import merge_ledgers

    ledger = merge_ledgers(upstream_ledger, dedup_ledger)

    clusters = pd.DataFrame({"id": list(examples["id"]),
                             "cluster": [dup_of.get(i, i) for i in examples["id"]]})
    preview_rows = []
    for dup, survivor in sorted(dup_of.items())[:200]:
        preview_rows.append({"kept": survivor, "kept_text": example_text(by_id[survivor])[:80] if survivor in by_id else "",
                             "dropped": dup, "dropped_text": example_text(by_id[dup])[:80] if dup in by_id else "",
                             "kind": kind.get(dup), "similarity": sim.get(dup)})
    preview = pd.DataFrame(preview_rows)
    return kept.reset_index(drop=True), ledger, clusters, preview
