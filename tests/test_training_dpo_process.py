"""DPO in the real training process: kill -9 after a checkpoint and resume; torchrun with 2 processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from preference_sets import pair_rows, write_pairs
from resources.training.checkpointing import list_checkpoints, read_state
from resources.training.config import TrainConfig
from resources.training.launcher import Trainer
from resources.training.reference import REFERENCE_FILE
from test_training_loop import Recording, read_log, write_train_set
from test_training_resume import kill_after_first_checkpoint

SFT = dict(max_steps=4, save_every=4, micro_batch_size=2, max_seq_len=256, warmup_steps=1)


@pytest.fixture(scope="module")
def sft_adapter(tiny_model_dir, tmp_path_factory):
    from resources.training.loop import train

    root = tmp_path_factory.mktemp("sft")
    return train(TrainConfig(**SFT), tiny_model_dir, write_train_set(root / "train.parquet"), root / "out",
                 Recording())["final_checkpoint"]


def _params(tmp_path, tiny_model_dir, sft_adapter, config) -> tuple:
    out = tmp_path / "out"
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"base_model_dir": str(tiny_model_dir), "output_dir": str(out),
                                  "train_path": str(write_pairs(tmp_path / "pairs.parquet", pair_rows(16))),
                                  "init_adapter": sft_adapter, "config": config}))
    return params, out


def _env(repo_root) -> dict:
    return {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_killed_dpo_run_resumes_without_redoing_the_reference(tiny_model_dir, sft_adapter, tmp_path, repo_root):
    config = dict(SFT, objective="dpo", max_steps=10, save_every=2, learning_rate=5e-3)
    params, out = _params(tmp_path, tiny_model_dir, sft_adapter, config)
    cmd = [sys.executable, "-m", "resources.training.entry", "--params", str(params)]
    resumed_step = kill_after_first_checkpoint(params, repo_root, out, tmp_path / "first.log")
    assert "log-probabilities of 16 pairs under the starting adapter computed" in (tmp_path / "first.log").read_text()
    assert resumed_step < config["max_steps"] and (out / REFERENCE_FILE).is_file()

    second = subprocess.run(cmd, cwd=repo_root, env=_env(repo_root), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resuming from checkpoint-{resumed_step:06d}" in second.stdout
    assert "16 pairs' log-probabilities read from reference_logps.json" in second.stdout
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, config["max_steps"] + 1))
    assert [read_state(p)["step"] for p in list_checkpoints(out)] == list(range(2, config["max_steps"] + 1, 2))
    assert log[-1]["reward_accuracy"] > 0.5 and log[-1]["loss"] < log[0]["loss"]


@pytest.mark.slow
def test_two_processes_train_dpo_like_one(tiny_model_dir, sft_adapter, tmp_path, repo_root):
    """2 ranks x 1 pair per micro-batch = 1 process x 2 pairs: same pairs per step, same mean, same update."""
    from resources.training.loop import train

    config = dict(SFT, objective="dpo", max_steps=2, save_every=2, micro_batch_size=1, warmup_steps=0,
                  learning_rate=5e-3)
    params, out = _params(tmp_path, tiny_model_dir, sft_adapter, config)
    cmd = Trainer(launcher="torchrun", nproc_per_node=2).command() + ["--params", str(params)]
    run = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=400, env=_env(repo_root))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    two = read_log(out / "train_log.jsonl")
    # the reference pass was split over the ranks and gathered: every pair scored once, in pair order
    assert len(json.loads((out / REFERENCE_FILE).read_text())["logps"]) == 16

    one_out = tmp_path / "one"
    train(TrainConfig(**{**config, "micro_batch_size": 2}), tiny_model_dir, tmp_path / "pairs.parquet", one_out,
          Recording(), init_adapter=sft_adapter)
    one = read_log(one_out / "train_log.jsonl")
    refs = [sum(json.loads((d / REFERENCE_FILE).read_text())["logps"], []) for d in (one_out, out)]
    assert refs[0] == pytest.approx(refs[1], abs=1e-4)
    assert [r["pairs"] for r in two] == [2, 2]
    for a, b in zip(two, one):  # step 2 follows an update: the ranks' gradients were combined like one batch
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["reward_margin"] == pytest.approx(b["reward_margin"], abs=1e-5)
    assert two[1]["loss"] != pytest.approx(0.6931, abs=1e-4)
