"""Kill -9 the real training process after its first checkpoint; the next run resumes there and finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from resources.training.checkpointing import latest_checkpoint, list_checkpoints, read_state
from test_training_loop import read_log, write_train_set

CONFIG = dict(max_steps=12, save_every=3, micro_batch_size=2, max_seq_len=256, warmup_steps=1)


def start(params_path, repo_root, log_file):
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "resources.training.entry", "--params", str(params_path)],
                            cwd=repo_root, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def kill_after_first_checkpoint(params_path, repo_root, out, log_path) -> int:
    """Start the training process, SIGKILL it once its first checkpoint is on disk (no clean-up code runs: the
    worst case) and return that checkpoint's step."""
    with open(log_path, "w") as log_file:
        first = start(params_path, repo_root, log_file)
        try:
            deadline = time.time() + 240
            while latest_checkpoint(out) is None and first.poll() is None and time.time() < deadline:
                time.sleep(0.02)
            assert first.poll() is None, log_path.read_text()[-3000:]
            assert latest_checkpoint(out) is not None, "no checkpoint within 240 s"
            os.kill(first.pid, signal.SIGKILL)
        finally:
            first.wait()
    assert first.returncode == -signal.SIGKILL
    return read_state(latest_checkpoint(out))["step"]


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tiny_model_dir, tmp_path, repo_root):
    out = tmp_path / "out"
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"base_model_dir": str(tiny_model_dir), "output_dir": str(out),
                                  "train_path": str(write_train_set(tmp_path / "train.parquet")), "config": CONFIG}))

    resumed_step = kill_after_first_checkpoint(params, repo_root, out, tmp_path / "first.log")
    assert resumed_step < CONFIG["max_steps"]
    first_log = read_log(out / "train_log.jsonl")
    first_run = first_log[0]["run_id"]
    # a write the kill cut short, as a crash inside atomic_dir leaves it: hidden, then removed
    (out / ".checkpoint-000099.x1y2.tmp").mkdir()
    (out / ".checkpoint-000099.x1y2.tmp" / "adapter_config.json").write_text("{")

    second = subprocess.run([sys.executable, "-m", "resources.training.entry", "--params", str(params)],
                            cwd=repo_root, env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resuming from checkpoint-{resumed_step:06d}" in second.stdout
    result = json.loads(second.stdout.strip().splitlines()[-1])["result"]
    assert result["resumed_from"] == resumed_step and result["steps"] == CONFIG["max_steps"]

    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, CONFIG["max_steps"] + 1))  # each step once: no restart
    assert {r["run_id"] for r in log[:resumed_step]} == {first_run}
    assert log[:resumed_step] == first_log[:resumed_step]
    assert len({r["run_id"] for r in log[resumed_step:]}) == 1 and log[-1]["run_id"] != first_run
    assert log[resumed_step]["tokens_seen"] == log[resumed_step - 1]["tokens_seen"] + log[resumed_step]["tokens"]
    steps = [read_state(p)["step"] for p in list_checkpoints(out)]
    assert steps == list(range(3, CONFIG["max_steps"] + 1, 3))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
