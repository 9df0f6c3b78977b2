"""The benchmark sample the forgetting check will use, as texts the training set must not contain."""

from __future__ import annotations


def benchmark_texts(evaluator) -> list[str]:
    """Question + choices of every item in the configured forgetting sample (plus GSM8K questions if set)."""
    from resources.evaluation.benchmarks import benchmark_sample, load_gsm8k, sample_items
    from resources.evaluation.forgetting import item_text

    items = benchmark_sample(evaluator.forgetting_benchmark, sample_size=evaluator.forgetting_sample_size,
                             per_subject=evaluator.forgetting_per_subject, seed=evaluator.forgetting_seed)
    texts = [item_text(i) for i in items]
    if evaluator.gsm8k_path:
        gsm = sample_items(load_gsm8k(evaluator.gsm8k_path), evaluator.gsm8k_sample_size, evaluator.forgetting_seed)
        texts += [g["question"] for g in gsm]
    return texts
