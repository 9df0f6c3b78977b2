"""Remove training items that near-duplicate a held-out item or a public benchmark item.

A model evaluated on paraphrases of its own training data reports memory, not skill. The split already keeps
duplicate clusters on one side; this is the second line (clusters are built at one threshold, leaks are checked
across all pairs) and the only line against benchmark items. Similarity comes from the caller's
``near_pairs(queries, references) -> [(query_index, reference_index, jaccard)]`` (the deduplicator's MinHash
LSH), over ``schema.example_text``; identical texts (after case and whitespace folding) always count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from resources.schema import FILTERED, KEPT, LEDGER_COLUMNS, example_text, ledger_entry

STAGE = "decontaminate"
NearPairs = Callable[[list[str], list[str]], Iterable[tuple[int, int, float]]]


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _matches(queries: list[str], references: list[str], near_pairs: NearPairs) -> dict[int, tuple[int, float]]:
    """query index -> (reference index, similarity) of its most similar reference, for every query that has one."""
    best: dict[int, tuple[int, float]] = {}
    if not queries or not references:
        return best

    def offer(q: int, r: int, score: float) -> None:
        if q not in best or score > best[q][1] or (score == best[q][1] and r < best[q][0]):
            best[q] = (r, score)

    for q, r, score in near_pairs(queries, references):
        offer(int(q), int(r), float(score))
    exact: dict[str, int] = {}
    for r, text in enumerate(references):
        exact.setdefault(_fold(text), r)
    for q, text in enumerate(queries):
        r = exact.get(_fold(text))
        if r is not None:
            offer(q, r, 1.0)
    return best


def _texts(frame: pd.DataFrame) -> list[str]:
    return [example_text(rec) for rec in frame.to_dict("records")]


def find_leaks(train: pd.DataFrame, eval: pd.DataFrame, near_pairs: NearPairs) -> list[tuple[str, str, float]]:
    """(train id, eval id, jaccard) for every training item that near-duplicates a held-out item; [] is clean."""
    best = _matches(_texts(train), _texts(eval), near_pairs)
    train_ids, eval_ids = train["id"].tolist(), eval["id"].tolist()
    return sorted((train_ids[q], eval_ids[r], round(s, 4)) for q, (r, s) in best.items())


def decontaminate(train: pd.DataFrame, eval: pd.DataFrame, benchmark_texts: Iterable[str], near_pairs: NearPairs
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Return (clean train, eval unchanged, ledger for every train and eval row, stats).

    A training item close to a held-out item is filtered with reason ``contaminates_eval:<eval id>`` (the
    closest one); otherwise, if close to a benchmark text, with ``contaminates_benchmark``.
    """
    texts = _texts(train)
    leaks = _matches(texts, _texts(eval), near_pairs)
    bench = [t for t in benchmark_texts if t and t.strip()]
    bench_hits = _matches(texts, bench, near_pairs)
    eval_ids = eval["id"].tolist()
    ledger, keep = [], []
    stats = {"train_in": len(train), "eval": len(eval), "benchmark_texts": len(bench),
             "contaminates_eval": 0, "contaminates_benchmark": 0}
    for q, rec in enumerate(train.to_dict("records")):
        entry = dict(id=rec["id"], source=rec.get("source", ""), drop=rec.get("drop", ""), file="",
                     line=int(rec.get("row", 0) or 0), stage=STAGE)
        if q in leaks:
            reason = f"contaminates_eval:{eval_ids[leaks[q][0]]}"
            stats["contaminates_eval"] += 1
        elif q in bench_hits:
            reason = "contaminates_benchmark"
            stats["contaminates_benchmark"] += 1
        else:
            keep.append(q)
            ledger.append(ledger_entry(**entry, state=KEPT))
            continue
        ledger.append(ledger_entry(**entry, state=FILTERED, reason=reason))
    for rec in eval.to_dict("records"):
        ledger.append(ledger_entry(id=rec["id"], source=rec.get("source", ""), drop=rec.get("drop", ""), file="",
                                   line=int(rec.get("row", 0) or 0), state=KEPT, stage=STAGE))
    clean = train.iloc[keep].reset_index(drop=True)
    stats["train_out"] = len(clean)
    return clean, eval, pd.DataFrame(ledger, columns=list(LEDGER_COLUMNS)), stats
