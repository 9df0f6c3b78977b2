"""Score the unseen-products held-out set (``eval_unseen.parquet`` beside eval.parquet) like the ordinary one.

Same prompts, same metrics, same few-shot examples per task, a block of its own: ``report["unseen"]``. It answers
whether the fine-tune learned the task or the products; the forgetting check and the choice of checkpoint stay
on the ordinary held-out set, so configuring unseen products changes neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from resources.prepare.unseen import UNSEEN_EVAL_FILE
from resources.schema import prompt_messages


def unseen_path(eval_path: Path | str) -> Path:
    return Path(eval_path).with_name(UNSEEN_EVAL_FILE)


def unseen_examples(evaluator, eval_path: Path | str) -> list[dict[str, Any]]:
    """The unseen items evaluated (the same max_eval_items subset rule as the held-out set); [] when none."""
    path = unseen_path(eval_path)
    return evaluator.held_out(path) if path.is_file() else []


def score_checkpoint_unseen(evaluator, model, tokenizer, held_out: Sequence[dict[str, Any]],
                            eval_path: Path | str) -> tuple[dict[str, Any], dict[str, list]]:
    """({"unseen": block, "unseen_eval_path": ...}, {"predictions_unseen.jsonl": rows}); both {} without items."""
    from resources.evaluation.scoring import json_tasks

    examples = unseen_examples(evaluator, eval_path)
    if not examples:
        return {}, {}
    rows, block = evaluator.score(model, tokenizer, examples, [prompt_messages(e) for e in examples],
                                   json_tasks([*held_out, *examples]))
    return {"unseen": block, "unseen_eval_path": str(unseen_path(eval_path))}, {"predictions_unseen.jsonl": rows}


def score_baselines_unseen(evaluator, model, tokenizer, held_out: Sequence[dict[str, Any]],
                           train: Sequence[dict[str, Any]], shots: dict[str, list[dict[str, Any]]],
                           eval_path: Path | str) -> tuple[dict[str, Any], dict[str, list]]:
    """Zero- and few-shot on the unseen items; a task the held-out set lacks gets shots picked the usual way."""
    from resources.evaluation.engine import few_shot_prompt
    from resources.evaluation.scoring import json_tasks

    examples = unseen_examples(evaluator, eval_path)
    if not examples:
        return {}, {}
    # the held-out set's shots are reused unchanged, so its baseline prompts are the same with or without this set
    missing = sorted({str(e.get("task", "")) for e in examples} - set(shots))
    shots = {**evaluator.pick_shots(train, missing), **shots} if missing else shots
    tasks = json_tasks([*held_out, *examples])
    zero_rows, zero = evaluator.score(model, tokenizer, examples, [prompt_messages(e) for e in examples], tasks)
    few_prompts = [few_shot_prompt(e, shots.get(str(e.get("task", "")), [])) for e in examples]
    few_rows, few = evaluator.score(model, tokenizer, examples, few_prompts, tasks)
    return ({"unseen": {"zero_shot": zero, "few_shot": few}, "unseen_eval_path": str(unseen_path(eval_path)),
             "unseen_shots": {t: [s.get("id", "") for s in shots[t]] for t in missing}},
            {"predictions_unseen_zero_shot.jsonl": zero_rows, "predictions_unseen_few_shot.jsonl": few_rows})
