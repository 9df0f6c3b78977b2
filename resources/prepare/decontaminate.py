"""Remove training items that contain, or near-duplicate, a held-out item or a public benchmark item.

A model evaluated on its own training data reports memory, not skill. The split already keeps duplicate
clusters on one side; this is the second line for the held-out set and the only line against benchmarks.
Two tests, either one removes a training row:

1. Containment (``containment.py``, the blocking test): the row holds an item's own 13-grams or most of its
   8-grams, however much else it says; this is what finds a benchmark question and its choices pasted into a
   long conversation, which whole-row similarity dilutes away.
2. Similarity (held-out items): the caller's ``near_pairs(queries, references) -> [(query_index, reference_index, jaccard)]``
   (the deduplicator's MinHash LSH) over ``schema.example_text``, plus identical texts after case and whitespace
   folding; this catches paraphrases that share few long n-grams.

Against benchmark items containment replaces similarity (a row that close to an item holds its n-grams, and
comparing every row with all 14k MMLU items by MinHash costs most of a minute per 100k rows).

Held-out items are not benchmark items: they come from the same sources as the training rows, and templated
tasks give them 13-grams in common with a handful of training rows by construction (a fixed policy answer, a
template sentence around a product name from a short list: on the embedded samples the any-13-gram rule removes
half the training set). So a held-out item counts as contained only when the row holds ``short_share`` of its
8-grams, after n-grams shared by more than ``eval_template_rows`` training rows are set aside as template.
Which ones those are is decided once, on the training set before anything is removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from resources.prepare.containment import ContainmentIndex, ContainmentSettings, Rows
from resources.schema import FILTERED, KEPT, LEDGER_COLUMNS, example_text, ledger_entry

STAGE = "decontaminate"
NearPairs = Callable[[list[str], list[str]], Iterable[tuple[int, int, float]]]
Items = Sequence[tuple[str, str]]  # (item id, text)
_LISTED = 50  # items listed per kind in the stats, and training ids per item: enough to act on, not a dump


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


def as_items(benchmark: Iterable[str] | Items) -> list[tuple[str, str]]:
    """(id, text) pairs; bare texts get ids ``benchmark/<n>``. Empty texts are dropped."""
    items = [(t if isinstance(t, tuple) else (f"benchmark/{n}", t)) for n, t in enumerate(benchmark, 1)]
    return [(str(i), str(t)) for i, t in items if t and str(t).strip()]


def find_leaks(train: pd.DataFrame, eval: pd.DataFrame, near_pairs: NearPairs) -> list[tuple[str, str, float]]:
    """(train id, eval id, jaccard) for every training item that near-duplicates a held-out item; [] is clean."""
    best = _matches(_texts(train), _texts(eval), near_pairs)
    train_ids, eval_ids = train["id"].tolist(), eval["id"].tolist()
    return sorted((train_ids[q], eval_ids[r], round(s, 4)) for q, (r, s) in best.items())


class _Reference:
    """One reference set (held-out or benchmark): its ids, texts and containment index."""

    def __init__(self, kind: str, items: Items, settings: ContainmentSettings | None,
                 train_rows: Rows, max_row_share: int):
        self.kind, self.ids, self.texts = kind, [i for i, _ in items], [t for _, t in items]
        self.index = ContainmentIndex(self.texts, settings) if settings else None
        self.templates = 0
        if self.index is not None and max_row_share > 0:
            self.templates = self.index.ignore_common_in(train_rows, max_row_share)

    def contained(self, rows: Rows) -> dict[int, list[tuple[int, str]]]:
        """row -> [(item, how)] for every row that contains an item, the best-covered item first."""
        if self.index is None:
            return {}
        s = self.index.settings
        found: dict[int, list] = {}
        for m in self.index.matches(rows):
            found.setdefault(m.row, []).append((-int(m.long_gram), -m.coverage, m.item, m.how(s.long_n, s.short_n)))
        return {r: [(item, how) for *_, item, how in sorted(ms)] for r, ms in found.items()}


def _listing(by_item: dict[str, list[str]]) -> dict[str, list[str]]:
    return {i: sorted(rows)[:_LISTED] for i, rows in sorted(by_item.items())[:_LISTED]}


def decontaminate(train: pd.DataFrame, eval: pd.DataFrame, benchmark: Iterable[str] | Items, near_pairs: NearPairs,
                  *, containment: ContainmentSettings | None = ContainmentSettings(), eval_template_rows: int = 10,
                  eval_long_ngram: bool = False
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Return (clean train, eval unchanged, ledger for every train and eval row, stats).

    A training row that contains or near-duplicates a held-out item is filtered with reason
    ``contaminates_eval:<eval id> (<how>)``; otherwise one that contains or near-duplicates a benchmark item with
    ``contaminates_benchmark:<item id> (<how>)``. ``containment=None`` turns the containment test off;
    ``eval_template_rows`` is how many training rows may share a held-out n-gram before it counts as template;
    ``eval_long_ngram`` also applies the any-13-gram rule to held-out items (off: see the module docstring).
    """
    texts = _texts(train)
    hashed = Rows(texts) if containment is not None else Rows([])
    eval_settings = containment if containment is None or eval_long_ngram else replace(containment, long_n=0)
    refs = [_Reference("eval", list(zip(eval["id"].astype(str), _texts(eval))), eval_settings, hashed,
                       eval_template_rows),
            _Reference("benchmark", as_items(benchmark), containment, hashed, 0)]
    train_ids = train["id"].astype(str).tolist()
    reasons: dict[int, str] = {}
    contaminated: dict[str, dict[str, list[str]]] = {ref.kind: {} for ref in refs}
    stats: dict[str, Any] = {"train_in": len(train), "eval": len(eval), "benchmark_texts": len(refs[1].ids),
                             "contaminates_eval": 0, "contaminates_benchmark": 0}
    found: dict[str, list[str]] = {}  # train id -> [kind, item] of its first containment match
    for ref in refs:
        contained = ref.contained(hashed)
        for q, pairs in contained.items():
            found.setdefault(train_ids[q], [ref.kind, ref.ids[pairs[0][0]]])
        # whole-row similarity still finds held-out paraphrases; benchmark items are outside text, where
        # containment sees everything Jaccard >= threshold would, so there it only runs when containment is off
        similar = _matches(texts, ref.texts, near_pairs) if ref.kind == "eval" or ref.index is None else {}
        for q in sorted(set(contained) | set(similar)):
            pairs = contained.get(q) or [(similar[q][0], f"jaccard {similar[q][1]:.2f}")]
            for item, _ in pairs:
                contaminated[ref.kind].setdefault(ref.ids[item], []).append(train_ids[q])
            if q not in reasons:
                reasons[q] = f"contaminates_{ref.kind}:{ref.ids[pairs[0][0]]} ({pairs[0][1]})"
                stats[f"contaminates_{ref.kind}"] += 1
        stats[f"{ref.kind}_items_contaminated"] = len(contaminated[ref.kind])
        stats[f"{ref.kind}_contaminated_by"] = _listing(contaminated[ref.kind])
        if ref.index is not None:
            stats[f"{ref.kind}_containment"] = {**ref.index.stats(), "template_ngrams": ref.templates}

    ledger, keep = [], []
    for q, rec in enumerate(train.to_dict("records")):
        entry = dict(id=rec["id"], source=rec.get("source", ""), drop=rec.get("drop", ""), file="",
                     line=int(rec.get("row", 0) or 0), stage=STAGE)
        if q in reasons:
            ledger.append(ledger_entry(**entry, state=FILTERED, reason=reasons[q]))
        else:
            keep.append(q)
            ledger.append(ledger_entry(**entry, state=KEPT))
    for rec in eval.to_dict("records"):
        ledger.append(ledger_entry(id=rec["id"], source=rec.get("source", ""), drop=rec.get("drop", ""), file="",
                                   line=int(rec.get("row", 0) or 0), state=KEPT, stage=STAGE))
    clean = train.iloc[keep].reset_index(drop=True)
    stats["train_out"] = len(clean)
    # what the blocking asset check reads: any row of the frame handed on that holds an item (a bug if not [])
    stats["remaining"] = sorted([i, *found[i]] for i in clean["id"].astype(str) if i in found)
    return clean, eval, pd.DataFrame(ledger, columns=list(LEDGER_COLUMNS)), stats


def contaminated_items(stats: dict[str, Any]) -> list[list[str]]:
    """[kind, item id, training ids] for every contaminated item listed in decontamination stats."""
    return [[kind, item, ", ".join(rows)] for kind in ("eval", "benchmark")
            for item, rows in stats.get(f"{kind}_contaminated_by", {}).items()]
