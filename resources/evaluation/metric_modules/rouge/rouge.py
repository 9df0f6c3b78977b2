"""ROUGE as an ``evaluate`` metric module shipped with the project (the hub copy is unreachable offline).

Follows the interface of evaluate's own ``rouge`` metric (Lin, 2004; computed by Google's ``rouge_score``),
with one deliberate difference: the aggregate is the plain mean F-measure over items, not a bootstrap
resample, so the same predictions always give the same numbers.
"""

import datasets
import evaluate
from rouge_score import rouge_scorer

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    publisher = "Association for Computational Linguistics",
    url = "https://www.aclweb.org/anthology/W04-1013",
}
"""

_DESCRIPTION = """\
ROUGE-N (n-gram overlap) and ROUGE-L (longest common subsequence) F-measures between predictions and
references, computed with the rouge_score package. Text is lower-cased and split on non-alphanumerics by
rouge_score's default tokenizer.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predictions to score, one string each.
    references: list of reference strings, one per prediction.
    rouge_types: which scores to compute, any of "rouge1", "rouge2", ..., "rougeL", "rougeLsum";
        default ["rouge1", "rouge2", "rougeL", "rougeLsum"].
    use_aggregator: True returns the mean F-measure over items per type; False returns one list per type.
    use_stemmer: apply the Porter stemmer to words before matching.
    tokenizer: optional object with a ``tokenize(text) -> list[str]`` method replacing the default one.
Returns:
    {rouge_type: float} with use_aggregator, else {rouge_type: list[float]}.
Examples:
    >>> rouge = evaluate.load("resources/evaluation/metric_modules/rouge")
    >>> rouge.compute(predictions=["hello there"], references=["hello there"])["rouge1"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string", id="sequence"),
                    "references": datasets.Value("string", id="sequence"),
                }
            ),
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
            reference_urls=["https://en.wikipedia.org/wiki/ROUGE_(metric)"],
        )

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False,
                 tokenizer=None):
        if rouge_types is None:
            rouge_types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=use_stemmer, tokenizer=tokenizer)
        per_type = {t: [] for t in rouge_types}
        for ref, pred in zip(references, predictions):
            scores = scorer.score(ref, pred)
            for t in rouge_types:
                per_type[t].append(float(scores[t].fmeasure))
        if not use_aggregator:
            return per_type
        return {t: (sum(v) / len(v) if v else 0.0) for t, v in per_type.items()}
