"""The benchmark items the training set must not contain, as (id, text) pairs for decontamination."""

from __future__ import annotations


def benchmark_items(evaluator) -> list[tuple[str, str]]:
    """Question + choices of every item in the configured forgetting benchmark files (plus GSM8K questions if set).

    Every item, not only the forgetting sample: the sample is a subset, and checking them all means a new sample
    size or seed cannot turn an already trained model into a contaminated one. Containment makes that cheap.
    """
    from resources.evaluation.benchmarks import load_gsm8k, load_multiple_choice

    items = [(str(it["id"]), "\n".join([it["question"], *it["choices"]]))
             for it in load_multiple_choice(evaluator.forgetting_benchmark)]
    if evaluator.gsm8k_path:
        items += [(str(g["id"]), g["question"]) for g in load_gsm8k(evaluator.gsm8k_path)]
    return items
