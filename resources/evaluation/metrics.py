"""Answer metrics: exact match and token F1 (SQuAD normalisation), ROUGE, and JSON field precision/recall.

ROUGE comes through ``evaluate.load`` of the module the project ships (``metric_modules/rouge``), loaded by local
path with the Hugging Face libraries in offline mode, so scoring never reaches for the network.
"""

from __future__ import annotations

import collections
import functools
import json
import re
import string
from pathlib import Path
from typing import Any, Sequence

ROUGE_MODULE = Path(__file__).parent / "metric_modules" / "rouge"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall after normalisation (SQuAD v1.1 definition)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def _offline() -> None:
    # Set before the first import of datasets/evaluate (they read these at import time), and again on their
    # config objects in case something imported them earlier.
    from resources.offline import force_offline

    force_offline()
    import datasets
    import evaluate

    evaluate.config.HF_EVALUATE_OFFLINE = True
    datasets.config.HF_DATASETS_OFFLINE = True
    evaluate.config.HF_UPDATE_DOWNLOAD_COUNTS = False


@functools.lru_cache(maxsize=1)
def rouge_metric():
    """The shipped ROUGE module, loaded once per process by local path (never from the hub)."""
    _offline()
    import evaluate

    return evaluate.load(str(ROUGE_MODULE), keep_in_memory=True)


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """Per-item ROUGE-1/2/L F-measures (lists aligned with the inputs)."""
    if not predictions:
        return {t: [] for t in ROUGE_TYPES}
    return rouge_metric().compute(predictions=[str(p) for p in predictions], references=[str(r) for r in references],
                                  rouge_types=list(ROUGE_TYPES), use_aggregator=False)


def parse_json_answer(text: str) -> dict | None:
    """The JSON object in an answer: the whole text, else its first ``{...}`` span; None when there is none."""
    text = str(text).strip()
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for c in candidates:
        try:
            obj = json.loads(c)
        except (ValueError, TypeError):
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _canonical(value: Any) -> str:
    """Field values compare after light normalisation: 2 == "2" == 2.0, "Blue Mug " == "blue mug"."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(float(value))
    if isinstance(value, str):
        s = " ".join(value.strip().lower().split())
        try:
            return repr(float(s))
        except ValueError:
            return s
    return json.dumps(value, sort_keys=True, ensure_ascii=False).lower()


def json_field_counts(prediction: str, reference: str) -> dict[str, int]:
    """Counts for field-level P/R/F1: fields predicted, fields in the reference, fields right (key and value)."""
    ref = parse_json_answer(reference) or {}
    pred = parse_json_answer(prediction)
    if pred is None:
        return {"parsed": 0, "pred_fields": 0, "ref_fields": len(ref), "correct_fields": 0}
    correct = sum(1 for k, v in pred.items() if k in ref and _canonical(v) == _canonical(ref[k]))
    return {"parsed": 1, "pred_fields": len(pred), "ref_fields": len(ref), "correct_fields": correct}


def precision_recall_f1(correct: int, predicted: int, expected: int) -> dict[str, float]:
    p = correct / predicted if predicted else 0.0
    r = correct / expected if expected else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
