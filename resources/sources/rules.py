"""Per-source rules: which raw records become training examples, and how.

- ``reviewed_interactions``: chat transcripts; only ``verdict == "approved"`` is kept, other verdicts are
  filtered (a reviewer said no, the row itself is fine).
- ``corrected_outputs``: train on the human correction, never on the model output it replaced (that one is
  kept beside the examples as the rejected side of a preference pair: ``model_outputs.py``).
- ``expert_annotations``: the user turn is the task instruction plus the document, the answer is the annotation.
  Instructions come from ``TASK_INSTRUCTIONS`` plus the configured ``task_instructions`` (task -> instruction);
  a task with neither is rejected.
- ``teacher_synthetic``: any chat format; examples below ``teacher_min_score`` are filtered. A score may be a
  number or numeric text (CSV cells are always text).

An outcome is ``kept`` (with task and messages), ``filtered`` (valid but unwanted, with reason) or ``rejected``
(malformed, with reason). Reasons start with a short category, then ": detail".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from resources.schema import FILTERED, KEPT, REJECTED
from resources.sources.formats import FormatError, to_messages
from resources.sources.limits import MAX_DEPTH, too_deep
from resources.sources.reasons import quoted

# Must match data/generate_samples.py: annotations are prompted with exactly these words. Other tasks get their
# instruction from configuration (SourceCatalog.task_instructions), which may also override these.
TASK_INSTRUCTIONS = {
    "extract_order": "Extract the order details from the customer message as JSON with keys order_id, item, "
                     "quantity, issue.",
    "summarise": "Summarise this support conversation in one sentence.",
    "policy_qa": "Answer the customer's question about Nordlicht Home's policies.",
}


# every field a rule or format reads: a CSV whose first line names none of them has no header line
FIELD_NAMES = ("messages", "conversations", "instruction", "input", "output", "system", "prompt", "completion",
               "task", "verdict", "corrected_output", "model_output", "document", "annotation", "score",
               "reviewed_at", "corrected_at", "annotated_at", "created_at")


@dataclass(frozen=True)
class Outcome:
    state: str
    reason: str = ""
    task: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    created_at: str = ""
    score: float | None = None  # teacher score when it was readable, for the histogram


def kept(task: str, messages: list[dict[str, str]], created_at: str = "", score: float | None = None) -> Outcome:
    return Outcome(KEPT, task=task, messages=messages, created_at=created_at, score=score)


def filtered(reason: str, score: float | None = None) -> Outcome:
    return Outcome(FILTERED, reason=reason, score=score)


def rejected(reason: str, score: float | None = None) -> Outcome:
    return Outcome(REJECTED, reason=reason, score=score)


def _task(record: dict[str, Any]) -> str:
    task = record.get("task")
    if task is None or task == "":
        raise FormatError("missing field: task")
    if not isinstance(task, str):
        raise FormatError(f"wrong type: task is {type(task).__name__}, not a string")
    if not task.strip():
        raise FormatError("missing field: task is blank")
    return task.strip()


def _timestamp(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None else value if isinstance(value, str) else str(value)


def interaction(record: dict[str, Any], fmt: str = "auto", **_: Any) -> Outcome:
    verdict = record.get("verdict")
    if verdict is None:
        return rejected("missing field: verdict")
    if not isinstance(verdict, str):
        return rejected(f"wrong type: verdict is {type(verdict).__name__}, not a string")
    if verdict.strip().lower() != "approved":
        return filtered(f"not approved: verdict={quoted(verdict)}")
    try:
        return kept(_task(record), to_messages(record, fmt), _timestamp(record, "reviewed_at"))
    except FormatError as e:
        return rejected(str(e))


def correction(record: dict[str, Any], **_: Any) -> Outcome:
    try:
        pair = {"prompt": record.get("prompt"), "completion": record.get("corrected_output")}
        if pair["completion"] is None:
            raise FormatError("missing field: corrected_output")
        return kept(_task(record), to_messages(pair, "prompt_completion"), _timestamp(record, "corrected_at"))
    except FormatError as e:
        return rejected(str(e).replace("completion", "corrected_output"))


def annotation_answer(annotation: Any) -> str:
    """The assistant text for an annotation: a lone summary/answer field as plain text, anything else as JSON."""
    if isinstance(annotation, str):
        try:
            annotation = json.loads(annotation)
        except (json.JSONDecodeError, RecursionError) as e:
            raise FormatError(f"invalid JSON: annotation: {e}"[:300]) from None
        if too_deep(annotation):
            raise FormatError(f"too deeply nested: annotation nests deeper than {MAX_DEPTH} levels")
    if isinstance(annotation, dict) and len(annotation) == 1:
        (key, value), = annotation.items()
        if key in ("summary", "answer") and isinstance(value, str):
            return value
    if annotation in ({}, [], None, ""):
        return ""  # validation below reports the empty answer
    return json.dumps(annotation, ensure_ascii=False)


def annotation(record: dict[str, Any], task_instructions: Mapping[str, str] | None = None, **_: Any) -> Outcome:
    instructions = {**TASK_INSTRUCTIONS, **(task_instructions or {})}
    try:
        task = _task(record)
        if not instructions.get(task, "").strip():
            raise FormatError(f"unknown task: {quoted(task)!r} has no instruction; add one to "
                              f"SourceCatalog.task_instructions (known: {', '.join(sorted(instructions))})")
        document = record.get("document")
        if document is None or (isinstance(document, str) and not document.strip()):
            raise FormatError("missing field: document")
        if not isinstance(document, str):
            raise FormatError(f"wrong type: document is {type(document).__name__}, not a string")
        if "annotation" not in record:
            raise FormatError("missing field: annotation")
        messages = [{"role": "user", "content": f"{instructions[task]}\n\n{document}"},
                    {"role": "assistant", "content": annotation_answer(record["annotation"])}]
        return kept(task, to_messages({"messages": messages}, "chat"), _timestamp(record, "annotated_at"))
    except FormatError as e:
        return rejected(str(e))


def score_value(score: Any) -> float:
    """A teacher score as a number in 0..1; numeric text ("0.85", as CSV holds it) counts as a number."""
    if score is None or (isinstance(score, str) and not score.strip()):
        raise FormatError("missing field: score")
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            raise FormatError(f"wrong type: score {quoted(score)!r} is not a number") from None
    elif isinstance(score, bool) or not isinstance(score, (int, float)):
        raise FormatError(f"wrong type: score is {type(score).__name__}, not a number")
    if not math.isfinite(score) or not 0 <= score <= 1:
        raise FormatError(f"invalid score: {score} is outside 0..1")
    return float(score)


def teacher(record: dict[str, Any], fmt: str = "auto", teacher_min_score: float = 0.7, **_: Any) -> Outcome:
    try:
        score = score_value(record.get("score"))
    except FormatError as e:
        return rejected(str(e))
    if score < teacher_min_score:
        return filtered(f"low score: {score:.2f} < {teacher_min_score}", score=score)
    try:
        return kept(_task(record), to_messages(record, fmt), _timestamp(record, "created_at"), score=score)
    except FormatError as e:
        return rejected(str(e), score=score)


RULES: dict[str, Callable[..., Outcome]] = {
    "reviewed_interactions": interaction,
    "corrected_outputs": correction,
    "expert_annotations": annotation,
    "teacher_synthetic": teacher,
}


def apply_rule(source: str, record: dict[str, Any], fmt: str = "auto", teacher_min_score: float = 0.7,
               task_instructions: Mapping[str, str] | None = None) -> Outcome:
    if source not in RULES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(RULES)}")
    return RULES[source](record, fmt=fmt, teacher_min_score=teacher_min_score, task_instructions=task_instructions)
