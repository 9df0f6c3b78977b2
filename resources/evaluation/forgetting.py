"""Catastrophic-forgetting check: base model vs checkpoint on the same benchmark items with the same prompts.

Multiple choice items are scored exactly as lm-evaluation-harness scores MMLU (``mmlu.py``): 0-shot prompt with
the subject description and lettered choices, prediction = the answer letter with the highest log-likelihood.
The items are a seeded sample, ``per_subject`` from every subject (``benchmarks.py``). GSM8K items are answered by
greedy generation and compared on the final number.

Per item the checkpoint and base are each right (1) or wrong (0); the paired difference d = ckpt - base has
standard error sd(d)/sqrt(n). Forgetting is flagged when accuracy drops by more than ``tolerance`` AND by more
than twice that standard error, so a noisy small sample does not cry wolf and a large real drop is not missed.

On the generated toy benchmark the result says ``kind: "smoke"``: it shows the scoring runs end to end, not that
the model kept what it knew.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from typing import Any, Callable, Sequence

from resources.evaluation.benchmarks import (benchmark_sample, final_answer, is_smoke_benchmark, load_gsm8k,
                                             sample_items)
from resources.evaluation.base_answers import cached_answers
from resources.evaluation.generation import generate
from resources.evaluation.mmlu import letter_predictions

NearPairs = Callable[[Sequence[str], Sequence[str]], list]  # (queries, references) -> [(qi, ri, jaccard)]


def gsm8k_prompt(item: dict[str, Any]) -> str:
    return f"Question: {item['question'].strip()}\nAnswer:"


def item_text(item: dict[str, Any]) -> str:
    """The text a benchmark item is compared with training examples by (question and every choice)."""
    return "\n".join([item["question"], *item.get("choices", [])])


def exclude_near_duplicates(items: Sequence[dict[str, Any]], train_texts: Sequence[str],
                            near_pairs: NearPairs | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split items into (kept, excluded): excluded ones near-duplicate some training text (a leak would make
    the checkpoint look better than it is)."""
    if near_pairs is None or not items or not train_texts:
        return list(items), []
    hits: dict[int, tuple[int, float]] = {}
    for qi, ri, jac in near_pairs([item_text(it) for it in items], list(train_texts)):
        if qi not in hits or jac > hits[qi][1]:
            hits[int(qi)] = (int(ri), float(jac))
    kept = [it for i, it in enumerate(items) if i not in hits]
    excluded = [{"id": items[i]["id"], "train_index": ri, "jaccard": round(j, 4)} for i, (ri, j) in sorted(hits.items())]
    return kept, excluded


def gsm8k_predictions(model, tokenizer, items: Sequence[dict[str, Any]], *, max_new_tokens: int = 256,
                      max_batch_tokens: int = 4096) -> list[str | None]:
    texts = generate(model, tokenizer, [gsm8k_prompt(it) for it in items], max_new_tokens=max_new_tokens,
                     max_batch_tokens=max_batch_tokens)
    # a base model runs on into an invented next question; only its first answer counts
    return [final_answer(t.split("\nQuestion:")[0]) for t in texts]


def paired_difference(base_correct: Sequence[bool], tuned_correct: Sequence[bool],
                      tolerance: float) -> dict[str, Any]:
    """Accuracies, their paired difference (checkpoint - base) with its standard error, and the flag."""
    n = len(base_correct)
    if n == 0:
        return {"n": 0, "base_accuracy": None, "checkpoint_accuracy": None, "diff": None, "stderr": None,
                "flagged": False}
    d = [float(t) - float(b) for b, t in zip(base_correct, tuned_correct)]
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    stderr = math.sqrt(var / n)
    drop = -mean
    return {"n": n, "base_accuracy": sum(base_correct) / n, "checkpoint_accuracy": sum(tuned_correct) / n,
            "diff": mean, "stderr": stderr, "flagged": bool(drop > tolerance and drop > 2 * stderr)}


@contextlib.contextmanager
def base_of(tuned, base=None):
    """The base model to compare against: ``base`` when given, else ``tuned`` with its adapter switched off
    (one copy of the weights in memory instead of two)."""
    if base is not None:
        yield base
    elif hasattr(tuned, "disable_adapter"):
        with tuned.disable_adapter():
            yield tuned
    else:
        raise ValueError("no base model given and the checkpoint model has no adapter to switch off")


SCORING = "lm-eval MMLU: 0-shot, log-likelihood of the answer letter"


def describe(kind: str, benchmark: str, subjects: dict[str, int], stats: dict[str, Any]) -> tuple[str, str]:
    """(what kind of check this was, accuracy ± paired standard error in one line), for people to read."""
    count = f"{len(subjects)} subject" + ("" if len(subjects) == 1 else "s")
    if kind == "smoke":
        note = (f"Smoke check, not a forgetting check: {benchmark} is the generated toy benchmark, which shows the "
                "scoring runs but not whether the model kept its general knowledge. Point forgetting_benchmark at "
                "a folder of MMLU CSVs for a forgetting check.")
    else:
        note = (f"Forgetting check on {stats['n']} items from {count} of {benchmark}, scored as "
                "lm-evaluation-harness scores MMLU.")
    if not stats["n"]:
        return note, "no items scored"
    return note, (f"checkpoint {stats['checkpoint_accuracy']:.3f} vs base {stats['base_accuracy']:.3f}: "
                  f"{stats['diff']:+.3f} ± {stats['stderr']:.3f} (paired SE), n={stats['n']}, {count}")


def check_forgetting(tuned, tokenizer, *, base=None, benchmark: str, sample_size: int = 100, per_subject: int = 0,
                     seed: int = 0, tolerance: float = 0.02, train_texts: Sequence[str] = (),
                     near_pairs: NearPairs | None = None, gsm8k_path: str = "", gsm8k_sample_size: int = 0,
                     max_new_tokens: int = 256, max_batch_tokens: int = 4096,
                     base_cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compare base and checkpoint on a benchmark sample; returns the result (with per-item rows under
    ``per_item``): kind ("forgetting" or "smoke") and a sentence saying which, accuracies, paired diff and
    stderr, n, items per subject, excluded near-duplicates, and ``flagged``.

    ``base_cache`` ({"dir", "base"}: a folder and the base model's fingerprint) reuses the base's answers
    across checkpoints (``base_answers.py``)."""
    cache_dir = (base_cache or {}).get("dir")
    cache_key = {"base": (base_cache or {}).get("base"), "scoring": SCORING, "max_new_tokens": max_new_tokens}
    items = benchmark_sample(benchmark, sample_size=sample_size, per_subject=per_subject, seed=seed)
    kept, excluded = exclude_near_duplicates(items, train_texts, near_pairs)
    def base_letters() -> list:
        with base_of(tuned, base) as b:
            return [int(p) for p in letter_predictions(b, tokenizer, kept, max_batch_tokens=max_batch_tokens)]

    base_pred = cached_answers(cache_dir, {**cache_key, "benchmark": "multiple_choice"}, [it["id"] for it in kept],
                               base_letters)
    tuned_pred = letter_predictions(tuned, tokenizer, kept, max_batch_tokens=max_batch_tokens)
    base_ok = [p == it["answer"] for p, it in zip(base_pred, kept)]
    tuned_ok = [p == it["answer"] for p, it in zip(tuned_pred, kept)]
    stats = paired_difference(base_ok, tuned_ok, tolerance)
    subjects = dict(sorted(Counter(it["subject"] for it in kept).items()))
    kind = "smoke" if is_smoke_benchmark(benchmark) else "forgetting"
    note, summary = describe(kind, str(benchmark), subjects, stats)
    # choice_score stays for readers of older reports: it names how each choice was scored
    result = {"benchmark": str(benchmark), "kind": kind, "kind_note": note, "summary": summary, "scoring": SCORING,
              "choice_score": "answer letter", "sample_size": sample_size, "per_subject": per_subject,
              "seed": seed, "tolerance": tolerance, "sampled": len(items), "excluded": len(excluded),
              "excluded_items": excluded, "subjects": subjects, **stats}
    result["per_item"] = [{"benchmark": "multiple_choice", "id": it["id"], "subject": it["subject"],
                           "answer": it["answer"], "base": bp, "checkpoint": tp}
                          for it, bp, tp in zip(kept, base_pred, tuned_pred)]
    reasons = [f"multiple choice accuracy fell by {-result['diff']:.3f} (> {tolerance} and > 2 x stderr "
               f"{result['stderr']:.3f})"] if result["flagged"] else []
    if gsm8k_path:
        g_items = sample_items(load_gsm8k(gsm8k_path), gsm8k_sample_size or sample_size, seed)
        g_kept, g_excluded = exclude_near_duplicates(g_items, train_texts, near_pairs)
        def base_finals() -> list:
            with base_of(tuned, base) as b:
                return gsm8k_predictions(b, tokenizer, g_kept, max_new_tokens=max_new_tokens,
                                         max_batch_tokens=max_batch_tokens)

        g_base = cached_answers(cache_dir, {**cache_key, "benchmark": "gsm8k"}, [it["id"] for it in g_kept],
                                base_finals)
        g_tuned = gsm8k_predictions(tuned, tokenizer, g_kept, max_new_tokens=max_new_tokens,
                                    max_batch_tokens=max_batch_tokens)
        g = paired_difference([p == it["final"] for p, it in zip(g_base, g_kept)],
                              [p == it["final"] for p, it in zip(g_tuned, g_kept)], tolerance)
        result["gsm8k"] = {"path": str(gsm8k_path), "sampled": len(g_items), "excluded": len(g_excluded),
                           "excluded_items": g_excluded, **g}
        result["per_item"] += [{"benchmark": "gsm8k", "id": it["id"], "answer": it["final"], "base": bp,
                                "checkpoint": tp} for it, bp, tp in zip(g_kept, g_base, g_tuned)]
        if g["flagged"]:
            reasons.append(f"GSM8K accuracy fell by {-g['diff']:.3f} (> {tolerance} and > 2 x stderr "
                           f"{g['stderr']:.3f})")
    result["benchmark_flagged"] = result["flagged"]
    result["flagged"] = bool(reasons)
    result["flag_reasons"] = reasons
    return result
