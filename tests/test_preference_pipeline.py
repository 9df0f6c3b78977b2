"""What `make run` does with DPO on: SFT, then DPO from the best SFT checkpoint on the sample corrections, its
checkpoints evaluated like SFT's, and the better of the two published, all on the tiny model in a temporary
Dagster instance."""

from __future__ import annotations

import json
import math

import dagster as dg
import pytest

from conftest import pipeline_settings
from pipelines.definitions import build_definitions
from pipelines.run_all import run_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dpo_e2e")
    (tmp / "home").mkdir()
    defs = build_definitions(pipeline_settings(tmp, dpo={"max_steps": 4, "save_every": 2, "learning_rate": 5e-3,
                                                         "min_pairs": 4}))
    lines: list[str] = []
    with dg.instance_for_test(temp_dir=str(tmp / "home")) as instance:
        result = run_pipeline(defs, instance, log=lines.append)
        yield {"root": tmp / "artifacts", "instance": instance, "result": result, "lines": lines}


def test_dpo_trains_from_the_best_sft_checkpoint(pipeline):
    root, instance = pipeline["root"], pipeline["instance"]
    summary = json.loads((root / "evaluations" / "summary.json").read_text())
    run = json.loads((root / "adapters" / "preference_latest.json").read_text())
    assert run["init_checkpoint"] == summary["best_sft"]["checkpoint"]
    assert [k.rsplit("-", 1)[1] for k in run["checkpoints"]] == ["000002", "000004"]
    event = instance.get_latest_materialization_event(dg.AssetKey("preference_adapter")).asset_materialization
    assert event.metadata["started_from"].value == run["init_checkpoint"]
    assert "data:image/png;base64," in event.metadata["held_out_plot"].value
    assert event.metadata["held_out_pairs"].value > 0
    log_path = root / "adapters" / run["run_key"] / "train_log.jsonl"
    log = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    # step 1: the policy is the SFT checkpoint and so is the reference, so the DPO loss is exactly log 2; after it
    # the policy moves. (Whether it learns the preferences is test_training_dpo's: 4 steps on 4 different pairs
    # each say nothing about that on a random-weight model.)
    assert log[0]["loss"] == pytest.approx(math.log(2), abs=1e-5) and log[0]["reward_margin"] == 0
    assert any(abs(r["reward_margin"]) > 1e-3 for r in log[1:]), log


def test_dpo_checkpoints_are_evaluated_and_compete_with_sft(pipeline):
    root, instance = pipeline["root"], pipeline["instance"]
    run = json.loads((root / "adapters" / "preference_latest.json").read_text())
    done = instance.get_materialized_partitions(dg.AssetKey("checkpoint_evaluation"))
    assert set(run["checkpoints"]) <= done
    for key in run["checkpoints"]:
        report = json.loads((root / "evaluations" / key / "report.json").read_text())
        assert "token_f1" in report["overall"] and "forgetting" in report
    summary = json.loads((root / "evaluations" / "summary.json").read_text())
    objectives = {c["checkpoint"]: c["objective"] for c in summary["checkpoints"]}
    assert [objectives[k] for k in run["checkpoints"]] == ["dpo", "dpo"]
    assert "sft" in objectives.values()
    # the published checkpoint is the best of both on the same held-out set
    metric = summary["primary_metric"]
    values = [c["metrics"][metric] for c in summary["checkpoints"] if not c["forgetting"].get("flagged")]
    assert summary["best"]["value"] == max(values)
    version = instance.get_latest_materialization_event(dg.AssetKey("model_version")).asset_materialization
    assert version.metadata["checkpoint"].value == summary["best"]["checkpoint"]
    sft_step = summary["best_sft"]["step"]
    for c in summary["checkpoints"]:
        if c["objective"] == "dpo":
            assert c["step"] > sft_step  # DPO steps count on from the SFT checkpoint they start from


def test_the_run_says_dpo_ran(pipeline):
    assert any("DPO + 2 checkpoint evaluation(s)" in line for line in pipeline["lines"]), pipeline["lines"][-20:]
    assert any(line.startswith("preference_job: ok") for line in pipeline["lines"])
