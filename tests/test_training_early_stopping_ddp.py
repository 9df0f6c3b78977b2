"""Under torchrun (2 CPU processes, gloo) each rank measures its share of the held-out set and the sums are
added: the held-out loss is the one a single process measures on the whole set."""

import json
import os
import subprocess

import pytest

from resources.training.launcher import Trainer
from test_training_early_stopping import write_unlike_eval_set
from test_training_loop import read_log, write_train_set


@pytest.mark.slow
def test_two_processes_measure_the_held_out_loss_of_one(tiny_model_dir, tmp_path, repo_root):
    from resources.evaluation.heldout_loss import reference_nll
    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.training.heldout import read_heldout

    eval_path = write_unlike_eval_set(tmp_path / "eval.parquet", 11)  # odd: the ranks get 6 and 5 examples
    cfg = dict(max_steps=2, save_every=2, micro_batch_size=1, max_seq_len=256, warmup_steps=1, quantization="none",
               eval_loss_every=1, early_stopping_patience=1)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"base_model_dir": str(tiny_model_dir), "output_dir": str(tmp_path / "out"),
                                  "train_path": str(write_train_set(tmp_path / "train.parquet", 24)),
                                  "eval_path": str(eval_path), "config": cfg}))
    cmd = Trainer(launcher="torchrun", nproc_per_node=2).command() + ["--params", str(params)]
    run = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=400,
                         env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    measured = [line for line in run.stdout.splitlines() if line.startswith("held-out loss ") and " at step " in line]
    assert len(measured) == 2  # reported by rank 0 only
    log = read_log(tmp_path / "out" / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2] and all("heldout_loss" in r for r in log)

    # step 1 has learning rate 0 (warmup) and LoRA B starts at 0: the model measured is the base model itself
    nll = reference_nll(load_causal_lm(tiny_model_dir, device="cpu").eval(), load_tokenizer(tiny_model_dir),
                        read_heldout(eval_path))
    assert log[0]["heldout_loss"] == pytest.approx(sum(s for s, _ in nll) / sum(n for _, n in nll), abs=1e-5)
