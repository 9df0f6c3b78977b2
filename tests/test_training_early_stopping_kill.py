"""Kill -9 an early-stopping run after its first checkpoint: the resumed process stops where an uninterrupted one
did, with the same best checkpoint and reason, because the rule's state is saved with each checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_training_early_stopping import ES_CONFIG, write_unlike_eval_set
from test_training_loop import read_log, write_train_set
from test_training_resume import kill_after_first_checkpoint


def _params(tmp_path, name, tiny_model_dir, train, heldout):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"base_model_dir": str(tiny_model_dir), "output_dir": str(tmp_path / name),
                                "train_path": str(train), "eval_path": str(heldout), "config": ES_CONFIG}))
    return path


def _measured(out):
    return [(r["step"], round(r["heldout_loss"], 4)) for r in read_log(out / "train_log.jsonl") if "heldout_loss" in r]


def _finish(params, repo_root):
    run = subprocess.run([sys.executable, "-m", "resources.training.entry", "--params", str(params)], cwd=repo_root,
                         env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout, json.loads(run.stdout.strip().splitlines()[-1])["result"]


@pytest.mark.slow
def test_a_killed_early_stopping_run_resumes_to_the_same_stop(tiny_model_dir, tmp_path, repo_root):
    train = write_train_set(tmp_path / "train.parquet")
    heldout = write_unlike_eval_set(tmp_path / "eval.parquet")
    _, whole = _finish(_params(tmp_path, "whole", tiny_model_dir, train, heldout), repo_root)
    assert whole["steps"] < ES_CONFIG["max_steps"] and whole["stop_reason"].startswith("early stop")

    params = _params(tmp_path, "killed", tiny_model_dir, train, heldout)
    out = tmp_path / "killed"
    resumed_step = kill_after_first_checkpoint(params, repo_root, out, tmp_path / "first.log")
    assert resumed_step < whole["steps"]

    stdout, result = _finish(params, repo_root)
    assert f"resuming from checkpoint-{resumed_step:06d}" in stdout
    assert (result["steps"], result["stop_reason"]) == (whole["steps"], whole["stop_reason"])
    assert _measured(out) == _measured(tmp_path / "whole")
    # a run that already stopped resumes to nothing: no step is trained again
    _, again = _finish(params, repo_root)
    assert again["steps"] == whole["steps"] and len(read_log(out / "train_log.jsonl")) == whole["steps"]
