"""Settings of the evaluation engine (engine.py), plain Python: the pipeline builds them from the ``evaluator``
section of privft.yaml (the Evaluator resource's fields are these), a script or benchmark directly."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

LOWER_IS_BETTER = ("loss", "perplexity")


@dataclass
class EvaluationSettings:
    """How checkpoints and baselines are evaluated: generation bounds, metrics, and the forgetting check."""

    max_new_tokens: int = 64
    max_batch_tokens: int = 4096  # forward passes (reference loss, benchmark log-likelihoods)
    generation_batch_tokens: int = 0  # 0: auto (generation.batch_token_budget: 4096 on CPU, memory-sized on GPU)
    static_cache: bool = False  # preallocated KV cache + compiled decoding step (GPU; see eval_throughput.py)
    few_shot_k: int = 3
    primary_metric: str = "token_f1"
    # file, folder or glob of MMLU-format CSVs. The default, a generated toy that ships with the code, makes only a
    # smoke check; for a forgetting check point it at the MMLU test CSVs (a folder of <subject>_test.csv) and
    # set forgetting_per_subject, e.g. 20 (20 x 57 subjects = 1,140 items).
    forgetting_benchmark: str = "data/benchmarks/general_knowledge.csv"
    forgetting_sample_size: int = 100  # items drawn from the whole benchmark when forgetting_per_subject is 0
    forgetting_per_subject: int = 0  # > 0: this many items from every subject (stratified); sample_size unused
    forgetting_seed: int = 0
    forgetting_tolerance: float = 0.02
    gsm8k_path: str = ""  # optional GSM8K JSONL for a generative forgetting check
    gsm8k_sample_size: int = 50
    gsm8k_max_new_tokens: int = 256
    seed: int = 0
    max_eval_items: int = 0  # 0: the whole held-out set; N: a fixed, id-hashed subset of N (quick looks, tests)

    def check(self) -> list[str]:
        """Every setting evaluation cannot work with, as sentences that begin with the setting's name; [] when
        none. Reads at most the benchmark's file names."""
        from resources.evaluation.benchmarks import BenchmarkError, resolve_benchmark_files
        from resources.evaluation.scoring import TEXT_METRICS

        problems = []
        metrics = (*TEXT_METRICS, "json_field_f1", *LOWER_IS_BETTER)
        if self.primary_metric not in metrics:
            near = difflib.get_close_matches(self.primary_metric, sorted(metrics), n=1, cutoff=0.6)
            problems.append(f"primary_metric {self.primary_metric!r} is unknown"
                            + (f"; did you mean {near[0]!r}?" if near else f"; valid: {', '.join(sorted(metrics))}"))
        for name in ("max_new_tokens", "max_batch_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"{name} is {getattr(self, name)}: it must be at least 1")
        for name in ("few_shot_k", "forgetting_per_subject", "max_eval_items", "forgetting_tolerance"):
            if getattr(self, name) < 0:
                problems.append(f"{name} is {getattr(self, name)}: it must not be negative")
        try:
            resolve_benchmark_files(self.forgetting_benchmark)
        except BenchmarkError as exc:
            problems.append(f"forgetting_benchmark: {exc}")
        if self.gsm8k_path and not Path(self.gsm8k_path).is_file():
            problems.append(f"gsm8k_path {self.gsm8k_path!r}: no such file")
        return problems
