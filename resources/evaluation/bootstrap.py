"""Is the fine-tune really better than prompting? A paired bootstrap over the held-out items.

Both systems answered the same items, so the comparison is per item: d_i = tuned_i - baseline_i. Resampling
the items with replacement (the same resample for both systems) gives the sampling distribution of the mean
difference; its 2.5 % and 97.5 % percentiles are the 95 % interval (Koehn, 2004; Efron & Tibshirani, 1993).
An interval that excludes 0 says the gain is not an accident of which items were held out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from resources.storage import read_jsonl

METRICS = ("token_f1", "rougeL")
RESAMPLES = 10_000


def paired_bootstrap(tuned: Sequence[float], baseline: Sequence[float], *, resamples: int = RESAMPLES,
                     seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Mean of tuned - baseline over paired items, with its percentile bootstrap interval."""
    a, b = np.asarray(tuned, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs the same items on both sides ({a.shape} vs {b.shape})")
    n = len(a)
    if n == 0:
        return {"n": 0, "tuned": None, "baseline": None, "diff": None, "ci_low": None, "ci_high": None,
                "excludes_zero": False}
    d = a - b
    rng = np.random.default_rng(seed)
    # resample in blocks so 10k x n indices never sit in memory at once for a large held-out set
    means = np.concatenate([d[rng.integers(0, n, size=(min(1000, resamples - s), n))].mean(axis=1)
                            for s in range(0, resamples, 1000)])
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"n": n, "tuned": float(a.mean()), "baseline": float(b.mean()), "diff": float(d.mean()),
            "ci_low": float(low), "ci_high": float(high), "level": level, "resamples": resamples,
            "excludes_zero": bool(low > 0 or high < 0)}


def read_scores(path: Path) -> dict[str, dict[str, float]]:
    """Per-item scores of a predictions file: id -> {metric: value}."""
    if not path.is_file():
        return {}
    return {str(row["id"]): {m: float(row[m]) for m in METRICS if m in row} for row in read_jsonl(path)}


def compare_with_baselines(checkpoint_dir: Path, baselines_dir: Path, *, seed: int = 0,
                           prefix: str = "predictions") -> dict[str, Any]:
    """{"zero_shot": {metric: bootstrap}, "few_shot": {...}} for one checkpoint's evaluation folder, over the
    items both sides scored. ``prefix`` names the item set: ``<prefix>.jsonl`` of the checkpoint against
    ``<prefix>_zero_shot.jsonl`` / ``<prefix>_few_shot.jsonl`` of the baselines ("predictions_unseen" for the
    unseen products)."""
    tuned = read_scores(checkpoint_dir / f"{prefix}.jsonl")
    out: dict[str, Any] = {}
    for name in ("zero_shot", "few_shot"):
        base = read_scores(baselines_dir / f"{prefix}_{name}.jsonl")
        ids = sorted(set(tuned) & set(base))
        if not ids:
            continue
        out[name] = {m: paired_bootstrap([tuned[i][m] for i in ids], [base[i][m] for i in ids], seed=seed)
                     for m in METRICS if all(m in tuned[i] and m in base[i] for i in ids)}
    return out
