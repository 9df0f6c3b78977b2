"""What `make run` does with early stopping on: the adapter stops before max_steps on the sample data, the UI shows
why and the held-out loss curve, and its best checkpoint alone is evaluated, chosen and merged (tiny model,
temporary Dagster instance)."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from conftest import pipeline_settings
from pipelines.definitions import build_definitions
from pipelines.run_all import run_pipeline

pytestmark = pytest.mark.slow

# constant learning rate: the trajectory up to the stop does not depend on max_steps; the held-out loss falls by
# less than min_delta per measurement well before step 40
TRAINER = {"max_steps": 40, "save_every": 40, "learning_rate": 5e-3, "lr_scheduler": "constant",
           "eval_loss_every": 2, "early_stopping_patience": 2, "early_stopping_min_delta": 0.05}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("early_e2e")
    (tmp / "home").mkdir()
    defs = build_definitions(pipeline_settings(tmp, trainer=TRAINER, dpo={"enabled": False}))
    with dg.instance_for_test(temp_dir=str(tmp / "home")) as instance:
        result = run_pipeline(defs, instance, log=lambda m: None)
        yield {"root": tmp / "artifacts", "instance": instance, "result": result}


def _materialization(instance, key: str):
    return instance.get_latest_materialization_event(dg.AssetKey(key)).asset_materialization


def test_the_adapter_stops_early_and_says_why(pipeline):
    root, instance = pipeline["root"], pipeline["instance"]
    run = json.loads((root / "adapters" / "latest.json").read_text())
    log_path = root / "adapters" / run["run_key"] / "train_log.jsonl"
    log = [json.loads(line) for line in log_path.read_text().splitlines()]
    measured = {r["step"]: r["heldout_loss"] for r in log if "heldout_loss" in r}
    best = min(measured, key=measured.get)
    assert log[-1]["step"] < TRAINER["max_steps"] and list(measured) == list(range(2, log[-1]["step"] + 1, 2))
    assert run["stop_reason"].startswith("early stop: held-out loss did not improve by more than 0.05 for 2 ")
    assert run["best_heldout_step"] == best and run["checkpoints"] == [f"{run['run_key']}-{best:06d}"]
    md = _materialization(instance, "qlora_adapter").metadata
    assert md["stop_reason"].value == run["stop_reason"] and md["best_heldout_step"].value == best
    assert md["heldout_loss_curve"].value.startswith("![Held-out loss while training](data:image/png;base64,")
    # each measurement reached the Dagster run log through Pipes, and the end-of-run report says why it stopped
    messages = [e.user_message for r in instance.get_runs() for e in instance.all_logs(r.run_id)]
    assert f"held-out loss {measured[best]:.4f} at step {best} (new best)" in messages
    assert f"training: {run['stop_reason']}; only that best checkpoint was evaluated" in pipeline["result"]["summary"]


def test_only_the_best_checkpoint_is_evaluated_chosen_and_merged(pipeline):
    root, instance = pipeline["root"], pipeline["instance"]
    (best,) = json.loads((root / "adapters" / "latest.json").read_text())["checkpoints"]
    assert instance.get_materialized_partitions(dg.AssetKey("checkpoint_evaluation")) == {best}
    summary = json.loads((root / "evaluations" / "summary.json").read_text())
    assert summary["best"]["checkpoint"] == best
    assert _materialization(instance, "model_version").metadata["checkpoint"].value == best
