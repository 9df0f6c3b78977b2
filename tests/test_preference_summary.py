"""The evaluation summary with DPO checkpoints: the best of SFT and DPO on the same held-out set; best_sft is where
DPO starts; a DPO run from another SFT checkpoint is stale and left out; ties go to SFT. Also the held-out pair
metrics, and the DPO stage's reasons for training nothing."""

from __future__ import annotations

import pytest

from resources.evaluation.evaluator import Evaluator
from resources.layout import Layout
from resources.reports.summary import summarise
from resources.storage import write_json


def _report(layout: Layout, key: str, step: int, f1: float, flagged: bool = False) -> None:
    write_json(layout.evaluation(key) / "report.json",
               {"kind": "checkpoint", "step": step, "overall": {"token_f1": f1, "loss": 1.0},
                "forgetting": {"flagged": flagged, "diff": 0.0}})


def _layout(tmp_path, dpo_f1: list[float]) -> tuple[Layout, dict]:
    layout = Layout(tmp_path)
    _report(layout, "sft1-000010", 10, 0.30)
    _report(layout, "sft1-000020", 20, 0.40)
    for i, f1 in enumerate(dpo_f1, start=1):
        _report(layout, f"dpo-ab-{i * 5:06d}", i * 5, f1)
    run = {"run_key": "dpo-ab", "init_checkpoint": "sft1-000020",
           "checkpoints": [f"dpo-ab-{i * 5:06d}" for i in range(1, len(dpo_f1) + 1)]}
    return layout, run


def test_a_better_dpo_checkpoint_is_chosen_and_counts_on_from_its_sft_step(tmp_path):
    layout, run = _layout(tmp_path, [0.38, 0.45])
    summary = summarise(Evaluator(), layout, ["sft1-000010", "sft1-000020"], run)
    best, best_sft = summary["json"]["best"], summary["json"]["best_sft"]
    assert best_sft["checkpoint"] == "sft1-000020" and best_sft["objective"] == "sft"
    assert best["checkpoint"] == "dpo-ab-000010" and best["objective"] == "dpo"
    assert best["dpo_step"] == 10 and best["step"] == 30
    assert "DPO step 10 **best**" in summary["table_md"]
    assert [c["objective"] for c in summary["json"]["checkpoints"]] == ["sft", "sft", "dpo", "dpo"]


def test_sft_stays_best_when_dpo_does_not_beat_it_and_wins_ties(tmp_path):
    layout, run = _layout(tmp_path, [0.40, 0.35])
    summary = summarise(Evaluator(), layout, ["sft1-000010", "sft1-000020"], run)
    assert summary["json"]["best"]["checkpoint"] == "sft1-000020"


def test_a_dpo_checkpoint_flagged_for_forgetting_is_not_chosen(tmp_path):
    layout, run = _layout(tmp_path, [0.90])
    _report(layout, "dpo-ab-000005", 5, 0.90, flagged=True)
    summary = summarise(Evaluator(), layout, ["sft1-000010", "sft1-000020"], run)
    assert summary["json"]["best"]["checkpoint"] == "sft1-000020"


def test_a_dpo_run_from_another_sft_checkpoint_is_left_out(tmp_path):
    layout, run = _layout(tmp_path, [0.90])
    summary = summarise(Evaluator(), layout, ["sft1-000010", "sft1-000020"], {**run, "init_checkpoint": "old-000040"})
    assert summary["json"]["best"]["checkpoint"] == "sft1-000020"
    assert all(c["objective"] == "sft" for c in summary["json"]["checkpoints"])


def test_held_out_pair_metrics():
    from resources.evaluation.preference import pair_metrics

    reference = [(-10.0, -12.0), (-10.0, -9.0), (-5.0, -5.0)]
    policy = [(-9.0, -13.0), (-11.0, -9.5), (-5.0, -5.0)]  # pair 1 moved right, pair 2 wrong way, pair 3 unmoved
    m = pair_metrics(policy, reference, beta=0.5)
    assert m["pairs"] == 3
    assert m["reward_accuracy"] == 1 / 3  # a tie is not a win
    assert m["reward_margin"] == (0.5 * (1 + 1) + 0.5 * (-1 - -0.5) + 0.0) / 3
    assert m["likelihood_accuracy"] == 1 / 3  # only pair 1 has chosen above rejected under the policy
    assert pair_metrics(reference, reference, beta=0.5)["reward_accuracy"] == 0.0


@pytest.mark.parametrize("best_sft,pairs,reason", [
    (None, 20, "no SFT checkpoint to start from"),
    ({"checkpoint": "abc-000010", "step": 10}, 3, "3 training pairs, fewer than dpo.min_pairs (8)"),
])
def test_preference_adapter_says_why_it_trains_nothing(tmp_path, best_sft, pairs, reason):
    import json

    import dagster as dg

    from assets.preference_train import preference_adapter
    from preference_sets import pair_rows, write_pairs
    from resources.artifact_store import ArtifactStore
    from resources.model.base_model import BaseModel
    from resources.training.launcher import Trainer
    from resources.training.preference_settings import PreferenceTrainer
    from resources.training.runs import preference_run

    layout = Layout(tmp_path / "artifacts")
    write_json(layout.evaluation_summary(), {"best": best_sft, "best_sft": best_sft})
    write_pairs(layout.preferences() / "train.parquet", pair_rows(pairs))
    with dg.instance_for_test() as instance:
        result = dg.materialize([preference_adapter], instance=instance, resources={
            "store": ArtifactStore(root=str(layout.root)), "base": BaseModel(), "trainer": Trainer(),
            "dpo": PreferenceTrainer()})
        event = instance.get_latest_materialization_event(dg.AssetKey("preference_adapter")).asset_materialization
    assert result.success and event.metadata["trained"].value is False
    assert reason in event.metadata["reason"].value
    assert preference_run(layout)["checkpoints"] == [] and reason in json.dumps(preference_run(layout))
