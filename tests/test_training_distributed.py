"""Under torchrun (2 CPU processes, gloo) training shards the data and weighs tokens like one process would."""

import json
import os
import subprocess

import pytest

from resources.training.launcher import Trainer
from test_training_loop import read_log, write_train_set


@pytest.mark.slow
def test_two_processes_see_the_same_loss_as_one(tiny_model_dir, tmp_path, repo_root):
    import torch

    from resources.model.loading import load_tokenizer
    from resources.training.config import TrainConfig
    from resources.training.dataset import BatchStream, load_documents
    from resources.training.packing import n_targets
    from resources.training.qlora_model import build_qlora_model

    train_path = write_train_set(tmp_path / "train.parquet", 24)
    cfg = dict(max_steps=2, save_every=2, micro_batch_size=1, max_seq_len=256, warmup_steps=1)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"base_model_dir": str(tiny_model_dir), "train_path": str(train_path),
                                  "output_dir": str(tmp_path / "out"), "config": cfg}))
    cmd = Trainer(launcher="torchrun", nproc_per_node=2).command() + ["--params", str(params)]
    run = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=400,
                         env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("step 1/2 loss") == 1  # only rank 0 reports
    log = read_log(tmp_path / "out" / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2]

    # Reference: one process, micro-batch 2 = the two micro-batches of size 1 the two ranks took. The first
    # step has lr 0 (warmup) and LoRA B starts at 0, so both steps see the initial model.
    tok = load_tokenizer(tiny_model_dir)
    docs = load_documents(train_path, tok, 256).docs
    stream = BatchStream(docs, max_seq_len=256, micro_batch_size=2, packing=True, seed=42, pad_id=tok.pad_token_id)
    model = build_qlora_model(TrainConfig(**cfg), tiny_model_dir, "cpu")
    with torch.no_grad():
        batch, tokens = stream.micro_batch(0)
        loss = model(**batch, use_cache=False, num_items_in_batch=n_targets(batch)).loss.item()
    assert log[0]["loss"] == pytest.approx(loss, rel=1e-4)
    assert log[0]["tokens"] == tokens  # tokens summed over both ranks
