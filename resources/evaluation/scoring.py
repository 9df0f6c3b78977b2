"""Per-item scores of predictions against references, and their summaries overall, by task and by source."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from resources.evaluation.metrics import (ROUGE_TYPES, exact_match, json_field_counts, parse_json_answer,
                                          precision_recall_f1, rouge_scores, token_f1)

TEXT_METRICS = ("exact_match", "token_f1") + ROUGE_TYPES
BREAKDOWN_KEYS = ("task", "source")


def json_tasks(examples: Iterable[dict[str, Any]]) -> set[str]:
    """Tasks whose every reference is a JSON object: those get parse rate and field-level P/R/F1."""
    seen: dict[str, bool] = {}
    for ex in examples:
        task = str(ex.get("task", ""))
        seen[task] = seen.get(task, True) and parse_json_answer(ex["reference"]) is not None
    return {t for t, ok in seen.items() if ok}


def score_items(examples: Sequence[dict[str, Any]], predictions: Sequence[str], *, json_task_names: set[str],
                nll: Sequence[tuple[float, int]] | None = None) -> list[dict[str, Any]]:
    """One row per example: ids, breakdown keys, reference, prediction, and every per-item score."""
    refs = [str(ex["reference"]) for ex in examples]
    rouge = rouge_scores(list(predictions), refs)
    rows = []
    for i, (ex, pred, ref) in enumerate(zip(examples, predictions, refs)):
        row = {"id": ex.get("id", str(i)), "task": ex.get("task", ""), "source": ex.get("source", ""),
               "reference": ref, "prediction": pred,
               "exact_match": exact_match(pred, ref), "token_f1": token_f1(pred, ref)}
        row.update({t: rouge[t][i] for t in ROUGE_TYPES})
        if row["task"] in json_task_names:
            row.update({f"json_{k}": v for k, v in json_field_counts(pred, ref).items()})
            row["json_field_f1"] = precision_recall_f1(row["json_correct_fields"], row["json_pred_fields"],
                                                       row["json_ref_fields"])["f1"]
        if nll is not None:
            row["nll"], row["nll_tokens"] = nll[i]
        rows.append(row)
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of the per-item metrics; JSON fields micro-averaged; loss token-weighted (perplexity = exp(loss))."""
    out: dict[str, Any] = {"n": len(rows)}
    for m in TEXT_METRICS:
        out[m] = sum(r[m] for r in rows) / len(rows) if rows else None
    js = [r for r in rows if "json_parsed" in r]
    if js:
        out["json_parse_rate"] = sum(r["json_parsed"] for r in js) / len(js)
        prf = precision_recall_f1(sum(r["json_correct_fields"] for r in js), sum(r["json_pred_fields"] for r in js),
                                  sum(r["json_ref_fields"] for r in js))
        out.update({f"json_field_{k}": v for k, v in prf.items()})
    scored = [r for r in rows if r.get("nll_tokens")]
    if scored:
        tokens = sum(r["nll_tokens"] for r in scored)
        out["loss"] = sum(r["nll"] for r in scored) / tokens
        out["perplexity"] = math.exp(min(out["loss"], 700.0))
        out["loss_tokens"] = tokens
    return out


def breakdown(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(str(r.get(key, "")), []).append(r)
    return {g: summarise(groups[g]) for g in sorted(groups)}


def summary_tables(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``overall`` plus ``by_task`` and ``by_source``: the metric block of every report."""
    return {"overall": summarise(rows), **{f"by_{k}": breakdown(rows, k) for k in BREAKDOWN_KEYS}}
