"""The evaluation engine as a Dagster resource (section ``evaluator`` of privft.yaml): its fields are
``EvaluationSettings``'s, the work is ``EvaluationEngine``'s (engine.py); nothing else lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from resources.evaluation.engine import EvaluationEngine
from resources.evaluation.settings import EvaluationSettings
from resources.settings_resource import settings_resource


class Evaluator(settings_resource(EvaluationSettings)):
    """How checkpoints and baselines are evaluated: generation bounds, metrics, and the forgetting check."""

    def engine(self) -> EvaluationEngine:
        return EvaluationEngine(**vars(self.settings()))

    def evaluate_checkpoint(self, **kwargs: Any) -> dict[str, Any]:
        return self.engine().evaluate_checkpoint(**kwargs)

    def evaluate_baselines(self, **kwargs: Any) -> dict[str, Any]:
        return self.engine().evaluate_baselines(**kwargs)

    def held_out(self, eval_path: Path | str) -> list[dict[str, Any]]:
        return self.engine().held_out(eval_path)

    def score(self, *args: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.engine().score(*args)

    def pick_shots(self, train: Sequence[dict[str, Any]], tasks: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        return self.engine().pick_shots(train, tasks)

    def choose_best(self, reports: Sequence[dict[str, Any]]) -> Optional[dict[str, Any]]:
        return self.engine().choose_best(reports)
