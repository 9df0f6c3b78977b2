"""The current held-out set as common ground: a published version's primary metric, measured on today's examples.

A manifest records its primary metric together with the held-out set it was measured on (``evaluation.held_out``:
the eval data version and a fingerprint of the evaluator settings that decide the score). A number measured on
another set says nothing about today's: the held-out set may have grown harder or easier since. So before the
gate compares an incumbent with a candidate, the incumbent is scored again on the current set, with the same
Evaluator and settings the candidate's checkpoints were scored with; the result is cached per
(version × held-out data version × settings) under the artifact root, so that happens once per new held-out set.
"""

from __future__ import annotations

import functools
import gc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from resources.reports.cache import fingerprint
from resources.storage import content_hash, write_json

# Evaluator fields that decide a held-out score. The forgetting check does not touch it, and the batch size is a
# memory knob (greedy generation, same prompts): changing either must not force every incumbent to be re-scored.
SCORING_FIELDS = ("primary_metric", "max_new_tokens", "seed", "max_eval_items")


def held_out_key(data_version: str, evaluator_settings: Mapping[str, Any]) -> dict[str, str]:
    """What makes two held-out scores comparable: the same examples, scored the same way."""
    return {"data_version": data_version,
            "settings": fingerprint({k: evaluator_settings.get(k) for k in SCORING_FIELDS})}


@dataclass
class CurrentHeldOut:
    evaluator: Any  # the Evaluator resource or the EvaluationEngine it configures (engine.py)
    eval_path: Path
    base_model_dir: Path
    base_data_version: str
    scores_dir: Callable[[str], Path]  # version -> folder of its cached scores (Layout.version_scores)
    trust_remote_code: bool = False
    allow_pickle: bool = False

    @functools.cached_property
    def key(self) -> dict[str, str]:
        settings = {k: getattr(self.evaluator, k) for k in SCORING_FIELDS}
        return held_out_key(content_hash(self.eval_path), settings)

    def align(self, facts: dict[str, Any], folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        """``facts`` (see gates.gate_facts) with the primary metric as measured on the current held-out set."""
        if facts.get("held_out") == self.key:
            return {**facts, "measured": "as published"}
        score = self.score(folder, manifest)
        return {**facts, "metric": score["metric"], "higher_is_better": score["higher_is_better"],
                "value": score["value"], "held_out": self.key, "measured": score["measured"],
                "recorded": {"metric": facts.get("metric"), "value": facts.get("value"),
                             "held_out": facts.get("held_out")}}

    def score(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        """Score the published version in ``folder`` on the current held-out set, or read the earlier result."""
        version = manifest.get("version") or Path(folder).name
        cached = self.scores_dir(version) / f"{self.key['data_version']}-{self.key['settings']}.json"
        if cached.is_file():
            return {**json.loads(cached.read_text()), "measured": "re-evaluated on this set earlier (cached)"}
        result = {"version": version, "held_out": self.key, **self._evaluate(Path(folder), manifest)}
        write_json(cached, result)
        return {**result, "measured": "re-evaluated on this set"}

    def _evaluate(self, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        # The evaluator's own scoring routine, so the incumbent's number is computed exactly like the candidate's
        # checkpoint reports (same prompts, generation bounds, metrics).
        from resources.evaluation.settings import LOWER_IS_BETTER
        from resources.evaluation.scoring import json_tasks
        from resources.offline import force_offline
        from resources.schema import prompt_messages

        force_offline()
        ev = self.evaluator
        examples = ev.held_out(self.eval_path)
        model, tokenizer, loaded = self._load(folder, manifest)
        try:
            _, block = ev.score(model, tokenizer, examples, [prompt_messages(e) for e in examples],
                                json_tasks(examples))
        finally:
            del model
            _release_memory()
        overall = {k: v for k, v in block["overall"].items() if isinstance(v, (int, float))}
        metric = ev.primary_metric
        return {"metric": metric, "higher_is_better": metric not in LOWER_IS_BETTER, "value": overall.get(metric),
                "overall": overall, "loaded": loaded}

    def _load(self, folder: Path, manifest: dict[str, Any]):
        from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer

        kw = dict(trust_remote_code=self.trust_remote_code)
        # On an unchanged base, base + adapter is exactly how the candidate's checkpoints were scored; after a
        # base model change the adapter no longer fits, and the standalone merged folder is the version itself.
        same_base = (manifest.get("base_model") or {}).get("data_version") == self.base_data_version
        if same_base and (folder / "adapter").is_dir():
            model = load_causal_lm(self.base_model_dir, allow_pickle=self.allow_pickle, **kw)
            model = load_adapter(model, folder / "adapter")
            tokenizer, loaded = load_tokenizer(self.base_model_dir, **kw), "adapter on the current base model"
        elif (folder / "merged").is_dir():
            model = load_causal_lm(folder / "merged", **kw)
            tokenizer, loaded = load_tokenizer(folder / "merged", **kw), "merged model"
        else:
            raise FileNotFoundError(f"{folder}: neither merged/ nor a usable adapter/ to re-evaluate this version "
                                    "on the current held-out set; restore the version from backup or promote by hand "
                                    "(privft promote --version)")
        model.eval()
        return model, tokenizer, loaded


def _release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
