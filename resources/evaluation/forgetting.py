"""Catastrophic-forgetting check: base model vs checkpoint on the same benchmark items with the same prompts.

Multiple choice items are scored by log-likelihood: the prompt is ``Question: <q>\\nAnswer:`` and each choice
`` <text>`` is a continuation; the model picks the choice with the highest MEAN token log-probability (the sum
favours short choices, and MMLU choices differ a lot in length; ``choice_score="sum"`` is available). GSM8K
items are answered by greedy generation and compared on the final number.

Per item the checkpoint and base are each right (1) or wrong (0); the paired difference d = ckpt - base has
standard error sd(d)/sqrt(n). Forgetting is flagged when accuracy drops by more than ``tolerance`` AND by more
than twice that standard error, so a noisy small sample does not cry wolf and a large real drop is not missed.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Sequence

from resources.evaluation.benchmarks import final_answer, load_gsm8k, load_multiple_choice, sample_items
from resources.evaluation.generation import context_limit, encode_prompt, generate
from resources.evaluation.loglik import continuation_logprobs

NearPairs = Callable[[Sequence[str], Sequence[str]], list]  # (queries, references) -> [(qi, ri, jaccard)]


def mc_context(item: dict[str, Any]) -> str:
    return f"Question: {item['question'].strip()}\nAnswer:"


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


def multiple_choice_predictions(model, tokenizer, items: Sequence[dict[str, Any]], *, choice_score: str = "mean",
                                max_batch_tokens: int = 4096) -> list[int]:
    """The index of the choice each item's highest-scoring continuation names."""
    if choice_score not in ("mean", "sum"):
        raise ValueError(f"choice_score must be 'mean' or 'sum', not {choice_score!r}")
    sequences, owners = [], []
    for i, it in enumerate(items):
        ctx = encode_prompt(tokenizer, mc_context(it))
        for c in it["choices"]:
            cont = tokenizer(" " + str(c).strip(), add_special_tokens=False)["input_ids"]
            sequences.append((ctx + list(cont), len(ctx)))
            owners.append(i)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    scored = continuation_logprobs(model, sequences, pad_id=pad_id, max_batch_tokens=max_batch_tokens,
                                   max_length=context_limit(model, tokenizer))
    per_item: list[list[float]] = [[] for _ in items]
    for i, (lp, n) in zip(owners, scored):
        per_item[i].append((lp / n if choice_score == "mean" else lp) if n else float("-inf"))
    return [max(range(len(s)), key=lambda k: (s[k], -k)) for s in per_item]  # ties: the first choice


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


def check_forgetting(tuned, tokenizer, *, base=None, benchmark: str, sample_size: int = 100, seed: int = 0,
                     tolerance: float = 0.02, train_texts: Sequence[str] = (), near_pairs: NearPairs | None = None,
                     choice_score: str = "mean", gsm8k_path: str = "", gsm8k_sample_size: int = 0,
                     max_new_tokens: int = 256, max_batch_tokens: int = 4096) -> dict[str, Any]:
    """Compare base and checkpoint on a benchmark sample; returns the result (with per-item rows under
    ``per_item``) — accuracies, paired diff and stderr, n, excluded near-duplicates, and ``flagged``."""
    items = sample_items(load_multiple_choice(benchmark), sample_size, seed)
    kept, excluded = exclude_near_duplicates(items, train_texts, near_pairs)
    with base_of(tuned, base) as b:
        base_pred = multiple_choice_predictions(b, tokenizer, kept, choice_score=choice_score,
                                                max_batch_tokens=max_batch_tokens)
    tuned_pred = multiple_choice_predictions(tuned, tokenizer, kept, choice_score=choice_score,
                                             max_batch_tokens=max_batch_tokens)
    base_ok = [p == it["answer"] for p, it in zip(base_pred, kept)]
    tuned_ok = [p == it["answer"] for p, it in zip(tuned_pred, kept)]
    result = {"benchmark": str(benchmark), "choice_score": choice_score, "sample_size": sample_size, "seed": seed,
              "tolerance": tolerance, "sampled": len(items), "excluded": len(excluded), "excluded_items": excluded,
              **paired_difference(base_ok, tuned_ok, tolerance)}
    result["per_item"] = [{"benchmark": "multiple_choice", "id": it["id"], "answer": it["answer"], "base": bp,
                           "checkpoint": tp} for it, bp, tp in zip(kept, base_pred, tuned_pred)]
    reasons = [f"multiple choice accuracy fell by {-result['diff']:.3f} (> {tolerance} and > 2 x stderr "
               f"{result['stderr']:.3f})"] if result["flagged"] else []
    if gsm8k_path:
        g_items = sample_items(load_gsm8k(gsm8k_path), gsm8k_sample_size or sample_size, seed)
        g_kept, g_excluded = exclude_near_duplicates(g_items, train_texts, near_pairs)
        with base_of(tuned, base) as b:
            g_base = gsm8k_predictions(b, tokenizer, g_kept, max_new_tokens=max_new_tokens,
                                       max_batch_tokens=max_batch_tokens)
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
