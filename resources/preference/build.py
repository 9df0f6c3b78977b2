"""Build the preference pairs: gather, clean, deduplicate, split, decontaminate, account for every input pair.

The same treatment as the SFT rows, in the same order: normalise and scrub PII (all three fields), exact and
near duplicates on prompt + chosen (the deduplicator's MinHash LSH; the survivor absorbs the duplicates'
``origin_ids``), split by cluster without ever training on an SFT held-out prompt (``split.py``), then
remove training pairs that contain or near-duplicate an SFT held-out item, a preference held-out pair or a
benchmark item. Decontamination reads prompt + chosen: the text the policy is pushed towards.
The ledger holds one final state for every input pair: every row a corrections drop read and every row of
every filled rating sheet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from resources.datasets.tables import read_table
from resources.layout import Layout
from resources.preference.schema import PAIR_COLUMNS, fold, prompt_of, prompt_text
from resources.schema import DUPLICATE, KEPT, LEDGER_COLUMNS, SOURCES


@dataclass
class PreferenceResult:
    train_rows: int
    eval_rows: int
    fates: dict                      # state -> pairs
    reasons: pd.DataFrame            # stage, state, reason category, pairs
    accounting: pd.DataFrame
    preview: pd.DataFrame
    stats: dict
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def sft_held_out(layout: Layout) -> pd.DataFrame:
    """Every SFT held-out example (eval and unseen products); the SFT datasets must exist."""
    from resources.prepare.unseen import UNSEEN_EVAL_FILE

    folder = layout.datasets()
    if not (folder / "eval.parquet").exists():
        raise FileNotFoundError(f"{folder / 'eval.parquet'} does not exist: materialise training_datasets first; "
                                "preference pairs are split so that no SFT held-out prompt is trained on")
    frames = [pd.read_parquet(folder / name) for name in ("eval.parquet", UNSEEN_EVAL_FILE) if (folder / name).exists()]
    return pd.concat(frames, ignore_index=True)


def _as_examples(pairs: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    """Pairs as example rows (prompt + chosen), the form decontamination reads."""
    recs = pairs.to_dict("records")
    return pd.DataFrame({"id": [prefix + r["id"] for r in recs], "source": [r["source"] for r in recs],
                         "drop": [r["drop"] for r in recs], "row": [int(r["line"]) for r in recs],
                         "messages": [json.dumps(prompt_of(r) + [{"role": "assistant", "content": r["chosen"]}],
                                                 ensure_ascii=False) for r in recs]})


def _deduplicate(pairs: pd.DataFrame, dedup) -> tuple[pd.DataFrame, list[dict]]:
    from resources.preference.cleaning import entry

    items = pd.DataFrame({"id": pairs["id"], "source": pairs["source"], "created_at": "",
                          "text": [prompt_text(prompt_of(r)) + "\n" + r["chosen"] for r in pairs.to_dict("records")]})
    decisions = dedup.deduplicate(items) if len(items) else pd.DataFrame(columns=["id", "duplicate_of", "kind"])
    dup_of = {i: d for i, d in zip(decisions["id"], decisions["duplicate_of"]) if isinstance(d, str) and d}
    kind = dict(zip(decisions["id"], decisions["kind"]))
    absorbed: dict[str, set[str]] = {}
    joined: dict[str, list] = {}  # what the split must know of each absorbed pair: its SFT example and prompt
    for rec in pairs[pairs["id"].isin(dup_of)].to_dict("records"):
        absorbed.setdefault(dup_of[rec["id"]], set()).update(rec["origin_ids"])
        joined.setdefault(dup_of[rec["id"]], []).extend(rec["members"])
    ledger = [entry(r, DUPLICATE, "preference_dedup", reason=f"{kind.get(r['id']) or 'near'} duplicate",
                    duplicate_of=dup_of[r["id"]]) for r in pairs[pairs["id"].isin(dup_of)].to_dict("records")]
    kept = pairs[~pairs["id"].isin(dup_of)].copy()
    kept["origin_ids"] = [sorted(set(o) | absorbed.get(i, set())) for i, o in zip(kept["id"], kept["origin_ids"])]
    kept["members"] = [m + joined.get(i, []) for i, m in zip(kept["id"], kept["members"])]
    return kept.reset_index(drop=True), ledger


def build_preferences(layout: Layout, *, prepare, dedup, benchmark_items: list[tuple[str, str]]) -> PreferenceResult:
    from resources.prepare.accounting import account, merge_ledgers
    from resources.prepare.decontaminate import decontaminate
    from resources.preference.cleaning import clean_pairs, entry
    from resources.preference.corrections import correction_pairs
    from resources.preference.rated import rated_pairs
    from resources.preference.split import split_pairs
    from resources.provenance.tombstones import load_tombstones
    from resources.storage import atomic_dir, write_json, write_parquet

    prepare.check()
    held_out = sft_held_out(layout)
    raw, source_ledger = correction_pairs(layout)
    raw += rated_pairs(layout.ratings(), {str(r["id"]): r for r in held_out.to_dict("records")},
                       load_tombstones(layout.root))
    for pair in raw:  # the SFT example a pair came from: its own id for corrections, the rated item for sheets
        pair["sft_id"] = pair["id"] if pair["source"] in SOURCES else pair["id"].split("/", 2)[2]
    inputs = pd.concat([source_ledger[["id", "source", "drop"]],
                        pd.DataFrame([{k: p[k] for k in ("id", "source", "drop")} for p in raw
                                      if p["source"] not in SOURCES], columns=["id", "source", "drop"])],
                       ignore_index=True)
    cleaned, clean_ledger, clean_stats = clean_pairs(raw, prepare)
    columns = [*PAIR_COLUMNS, "drop", "file", "line", "members"]
    pairs = pd.DataFrame([{**p, "prompt": json.dumps(p["prompt"], ensure_ascii=False),
                           "members": [[p["sft_id"], fold(prompt_text(p["prompt"]))]]} for p in cleaned],
                         columns=columns)
    pairs, dedup_ledger = _deduplicate(pairs, dedup)

    clusters = read_table(layout.deduplicated(), "clusters.parquet", ["id", "cluster"])
    train, evals, split_stats = split_pairs(
        pairs, held_out, dict(zip(clusters["id"].astype(str), clusters["cluster"].astype(str))),
        eval_fraction=prepare.eval_fraction, min_eval=prepare.min_eval, seed=prepare.split_seed,
        stratify_by_task=prepare.stratify_by_task)
    references = pd.concat([held_out[["id", "messages"]], _as_examples(evals, "preference/")[["id", "messages"]]],
                           ignore_index=True)
    clean, _, dec_ledger, dec_stats = decontaminate(
        _as_examples(train), references, benchmark_items, dedup.near_pairs, containment=prepare.containment_settings(),
        eval_template_rows=prepare.decontaminate_template_rows, eval_long_ngram=prepare.decontaminate_eval_long_ngram)
    dec_ledger = dec_ledger[dec_ledger["id"].isin(train["id"])].assign(stage="preference_decontaminate")
    train = train[train["id"].isin(clean["id"])].reset_index(drop=True)
    final = pd.DataFrame([entry(r, KEPT, "preference_split") for r in pd.concat([train, evals]).to_dict("records")],
                         columns=list(LEDGER_COLUMNS))
    ledger = merge_ledgers(source_ledger, clean_ledger, pd.DataFrame(dedup_ledger, columns=list(LEDGER_COLUMNS)),
                           dec_ledger, final)
    # balance only: a high share of unusable pairs warns (a sheet of ties is not broken data), it never fails
    report = account(ledger, inputs, warn_rate=prepare.reject_warn_rate, fail_rate=1.0)
    out = {}
    for side, frame in (("train", train), ("eval", evals)):
        frame = frame.assign(origin_ids=[json.dumps(sorted(o)) for o in frame["origin_ids"]])
        out[side] = frame[list(PAIR_COLUMNS)].astype(str).sort_values("id").reset_index(drop=True)  # typed if empty
    fates = {k: int(v) for k, v in ledger["state"].value_counts().sort_index().items()}
    stats = {"inputs": len(inputs), "fates": fates, "clean": clean_stats, "deduplicated": len(dedup_ledger),
             "split": split_stats, "decontamination": dec_stats, "accounting_problems": report.problems,
             "accounting_warnings": report.warnings}
    with atomic_dir(layout.preferences()) as tmp:
        write_parquet(tmp / "train.parquet", out["train"])
        write_parquet(tmp / "eval.parquet", out["eval"])
        write_parquet(tmp / "ledger.parquet", ledger)
        write_json(tmp / "stats.json", stats)
    decided = ledger[ledger["state"] != KEPT]
    reasons = (decided.assign(reason=decided["reason"].astype(str).str.split(":").str[0])
               .groupby(["stage", "state", "reason"]).size().rename("pairs").reset_index())
    return PreferenceResult(train_rows=len(train), eval_rows=len(evals), fates=fates, reasons=reasons,
                            accounting=report.table, preview=out["train"][["id", "task", "chosen", "rejected"]].head(5),
                            stats=stats, problems=report.problems, warnings=report.warnings)


def data_version(folder: Path) -> str:
    """A hash of what DPO trains and is scored on: train and eval without ``origin_ids``. As for SFT (the record
    set, not the training files, carries provenance), a drop that only adds duplicates extends a survivor's
    origin_ids but must not look like new training data."""
    import hashlib

    digest = hashlib.sha256()
    for side in ("train", "eval"):
        frame = pd.read_parquet(folder / f"{side}.parquet").drop(columns=["origin_ids"])
        digest.update(f"{side}\0".encode() + frame.to_json(orient="records", force_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def read_preferences(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, eval) pairs as written; empty frames with PAIR_COLUMNS when not built yet."""
    return read_table(folder, "train.parquet", PAIR_COLUMNS), read_table(folder, "eval.parquet", PAIR_COLUMNS)
