"""The evaluation engine behind ``base_baselines`` and ``checkpoint_evaluation``: plain Python, configured in the
pipeline through the ``Evaluator`` resource (evaluator.py), whose fields are ``EvaluationSettings``'s.

For a checkpoint: greedy answers to every held-out prompt, scored against the references (exact match, token
F1, ROUGE, JSON field P/R/F1 where answers are JSON), held-out loss and perplexity, all broken down by task and
source, plus the forgetting check against the base model. For the base model alone: the same scores zero-shot
and with k examples from the training set in the prompt, the bar a fine-tune has to clear. Both also score the
unseen-products set when the datasets have one (``unseen.py``).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from resources.evaluation.settings import LOWER_IS_BETTER, EvaluationSettings
from resources.offline import force_offline
from resources.schema import example_text, prompt_messages

N_EXAMPLES = 3  # best and worst predictions shown in each report


def read_examples(path: Path | str) -> list[dict[str, Any]]:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Parquet file of examples; materialise training_datasets first")
    frame = pd.read_parquet(path)
    missing = [c for c in ("messages", "reference") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing; expected the example schema (resources/schema.py)")
    return frame.to_dict(orient="records")


def prompt_text(messages: Sequence[dict[str, str]]) -> str:
    """A prompt as a person reads it (for predictions.jsonl and rating sheets), not as the model sees it."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def checkpoint_step(adapter_dir: Path | str) -> Optional[int]:
    """The training step of a checkpoint: from ``checkpoint-<step>``, else trainer_state.json, else None."""
    adapter_dir = Path(adapter_dir)
    m = re.search(r"(\d+)$", adapter_dir.name)
    if m:
        return int(m.group(1))
    state = adapter_dir / "trainer_state.json"
    if state.is_file():
        return json.loads(state.read_text()).get("global_step")
    return None


def few_shot_prompt(example: dict[str, Any], shots: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The example's prompt with each shot's question and reference answer as earlier turns (after any system
    message, so the instructions still come first)."""
    prompt = prompt_messages(example)
    system = [m for m in prompt if m["role"] == "system"]
    turns = []
    for s in shots:
        turns += [m for m in prompt_messages(s) if m["role"] != "system"]
        turns.append({"role": "assistant", "content": str(s["reference"])})
    return system + turns + [m for m in prompt if m["role"] != "system"]


class EvaluationEngine(EvaluationSettings):
    """Evaluates checkpoints and baselines with the settings it is built with (settings.py)."""

    def held_out(self, eval_path: Path | str) -> list[dict[str, Any]]:
        """The held-out examples evaluated: all, or the same N every time (chosen by a hash of the id)."""
        import hashlib

        examples = read_examples(eval_path)
        if self.max_eval_items <= 0 or len(examples) <= self.max_eval_items:
            return examples
        ranked = sorted(examples, key=lambda e: hashlib.sha1(str(e["id"]).encode()).hexdigest())
        keep = {id(e) for e in ranked[:self.max_eval_items]}
        return [e for e in examples if id(e) in keep]

    # --- scoring -----------------------------------------------------------------------------------------
    def _example_metric(self) -> str:
        from resources.evaluation.scoring import TEXT_METRICS

        return self.primary_metric if self.primary_metric in TEXT_METRICS + ("json_field_f1",) else "token_f1"

    def score(self, model, tokenizer, examples: list[dict[str, Any]], prompts: list[list[dict[str, str]]],
              json_task_names: set[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Per-item rows and the summary block for ``examples`` answered from ``prompts``: the one scoring routine
        behind checkpoints, baselines, the unseen-products set and a re-scored promoted version."""
        from resources.evaluation.generation import generate
        from resources.evaluation.heldout_loss import reference_nll
        from resources.evaluation.scoring import score_items, summary_tables

        predictions = generate(model, tokenizer, prompts, max_new_tokens=self.max_new_tokens,
                               max_batch_tokens=self.generation_batch_tokens, seed=self.seed,
                               static_cache=self.static_cache)
        # loss of the reference after exactly the prompt the model was asked with
        scored_examples = [dict(ex, messages=prompt + [{"role": "assistant", "content": str(ex["reference"])}])
                           for ex, prompt in zip(examples, prompts)]
        nll = reference_nll(model, tokenizer, scored_examples, max_batch_tokens=self.max_batch_tokens)
        rows = score_items(examples, predictions, json_task_names=json_task_names, nll=nll)
        for row, prompt in zip(rows, prompts):
            row["prompt"] = prompt_text(prompt)
        block = summary_tables(rows)
        metric = self._example_metric()
        ranked = sorted(rows, key=lambda r: (-r.get(metric, r["token_f1"]), str(r["id"])))
        keep = ("id", "task", "source", "prompt", "reference", "prediction", metric)
        block["best"] = [{k: r.get(k) for k in keep} for r in ranked[:N_EXAMPLES]]
        block["worst"] = [{k: r.get(k) for k in keep} for r in ranked[::-1][:N_EXAMPLES]]
        return rows, block

    def _config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # --- public API --------------------------------------------------------------------------------------
    def evaluate_checkpoint(self, *, base_model_dir: Path | str, adapter_dir: Path | str, eval_path: Path | str,
                            train_path: Path | str | None, out_dir: Path | str, near_pairs: Callable | None = None,
                            trust_remote_code: bool = False, allow_pickle: bool = False) -> dict[str, Any]:
        """Score one adapter checkpoint on the held-out set and check it for forgetting; write and return the
        report. ``near_pairs(queries, references) -> [(qi, ri, jaccard)]`` excludes benchmark items that
        near-duplicate training examples. ``trust_remote_code``, ``allow_pickle``: the base model's (its handle)."""
        force_offline()
        from resources.evaluation.base_answers import base_fingerprint
        from resources.evaluation.forgetting import check_forgetting
        from resources.evaluation.report_files import checkpoint_markdown, write_report_dir
        from resources.evaluation.scoring import json_tasks
        from resources.evaluation.unseen import score_checkpoint_unseen
        from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer

        examples = self.held_out(eval_path)
        train = read_examples(train_path) if train_path else []
        tokenizer = load_tokenizer(base_model_dir, trust_remote_code=trust_remote_code)
        model = load_adapter(load_causal_lm(base_model_dir, trust_remote_code=trust_remote_code,
                                            allow_pickle=allow_pickle), adapter_dir)
        model.eval()
        rows, block = self.score(model, tokenizer, examples, [prompt_messages(e) for e in examples],
                                  json_tasks(examples))
        unseen, unseen_files = score_checkpoint_unseen(self, model, tokenizer, examples, eval_path)
        forgetting = check_forgetting(
            model, tokenizer, benchmark=self.forgetting_benchmark, sample_size=self.forgetting_sample_size,
            per_subject=self.forgetting_per_subject, seed=self.forgetting_seed, tolerance=self.forgetting_tolerance,
            train_texts=[example_text(t) for t in train], near_pairs=near_pairs, gsm8k_path=self.gsm8k_path,
            gsm8k_sample_size=self.gsm8k_sample_size, max_new_tokens=self.gsm8k_max_new_tokens,
            max_batch_tokens=self.max_batch_tokens,
            # beside the checkpoints' report folders: every checkpoint of every run shares the base's answers
            base_cache={"dir": Path(out_dir).parent / "base_answers", "base": base_fingerprint(base_model_dir)})
        forgetting_items = forgetting.pop("per_item")
        report = {"kind": "checkpoint", "checkpoint": Path(adapter_dir).name, "step": checkpoint_step(adapter_dir),
                  "adapter_dir": str(adapter_dir), "base_model_dir": str(base_model_dir), "eval_path": str(eval_path),
                  "train_path": str(train_path or ""), "primary_metric": self.primary_metric,
                  "example_metric": self._example_metric(), "config": self._config(), **block,
                  "forgetting": forgetting, **unseen}
        write_report_dir(out_dir, report, checkpoint_markdown(report),
                         {"predictions.jsonl": rows, "forgetting_items.jsonl": forgetting_items, **unseen_files})
        return report

    def evaluate_baselines(self, *, base_model_dir: Path | str, eval_path: Path | str, train_path: Path | str,
                           out_dir: Path | str, trust_remote_code: bool = False,
                           allow_pickle: bool = False) -> dict[str, Any]:
        """Score the base model zero-shot and with ``few_shot_k`` training examples (same task first) in the
        prompt; write and return the report."""
        force_offline()
        from resources.evaluation.report_files import baselines_markdown, write_report_dir
        from resources.evaluation.scoring import json_tasks
        from resources.evaluation.unseen import score_baselines_unseen
        from resources.model.loading import load_causal_lm, load_tokenizer

        examples = self.held_out(eval_path)
        train = read_examples(train_path) if train_path else []
        shots = self.pick_shots(train, sorted({str(e.get("task", "")) for e in examples}))
        tokenizer = load_tokenizer(base_model_dir, trust_remote_code=trust_remote_code)
        model = load_causal_lm(base_model_dir, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
        model.eval()
        tasks = json_tasks(examples)
        zero_rows, zero = self.score(model, tokenizer, examples, [prompt_messages(e) for e in examples], tasks)
        few_prompts = [few_shot_prompt(e, shots.get(str(e.get("task", "")), [])) for e in examples]
        few_rows, few = self.score(model, tokenizer, examples, few_prompts, tasks)
        unseen, unseen_files = score_baselines_unseen(self, model, tokenizer, examples, train, shots, eval_path)
        report = {"kind": "baselines", "base_model_dir": str(base_model_dir), "eval_path": str(eval_path),
                  "train_path": str(train_path or ""), "few_shot_k": self.few_shot_k,
                  "shots": {t: [s.get("id", "") for s in v] for t, v in shots.items()},
                  "primary_metric": self.primary_metric, "example_metric": self._example_metric(),
                  "config": self._config(), "zero_shot": zero, "few_shot": few, **unseen}
        write_report_dir(out_dir, report, baselines_markdown(report),
                         {"predictions_zero_shot.jsonl": zero_rows, "predictions_few_shot.jsonl": few_rows,
                          **unseen_files})
        return report

    def pick_shots(self, train: Sequence[dict[str, Any]], tasks: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """k training examples per task, seeded; topped up from other tasks when a task has fewer than k."""
        rng = random.Random(self.seed)
        out = {}
        for task in tasks:
            same = [t for t in train if str(t.get("task", "")) == task]
            other = [t for t in train if str(t.get("task", "")) != task]
            picked = rng.sample(same, min(self.few_shot_k, len(same)))
            if len(picked) < self.few_shot_k and other:
                picked += rng.sample(other, min(self.few_shot_k - len(picked), len(other)))
            out[task] = picked
        return out

    def choose_best(self, reports: Sequence[dict[str, Any]]) -> Optional[dict[str, Any]]:
        """The checkpoint report with the best primary metric among those not flagged for forgetting (ties go to
        the earlier step); None when every checkpoint is flagged or lacks the metric."""
        sign = 1.0 if self.primary_metric in LOWER_IS_BETTER else -1.0
        eligible = [r for r in reports if not r.get("forgetting", {}).get("flagged")
                    and r.get("overall", {}).get(self.primary_metric) is not None]
        if not eligible:
            return None
        return min(eligible, key=lambda r: (sign * r["overall"][self.primary_metric],
                                            r.get("step") if r.get("step") is not None else float("inf")))
