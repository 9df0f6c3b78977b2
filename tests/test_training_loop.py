"""The training loop on the tiny model: loss goes down, checkpoints are complete and load, resume is exact."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from resources.training.checkpointing import (ADAPTER_FILES, TRAINING_STATE, adapter_hash, latest_checkpoint,
                                              list_checkpoints, read_state, remove_stale_temporaries)
from resources.training.config import TrainConfig
from resources.training.reporting import Reporter

LOOP_CONFIG = dict(max_steps=8, save_every=4, micro_batch_size=2, max_seq_len=256, warmup_steps=1)


def write_train_set(path: Path, n: int = 36) -> Path:
    """A small training set in the canonical schema: order lookups and sums, some with a system prompt."""
    import pandas as pd

    from resources.schema import EXAMPLE_COLUMNS, make_example
    from resources.storage import write_parquet

    rng = random.Random(7)
    rows = []
    for i in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        msgs = [{"role": "system", "content": "You answer briefly."}] if i % 2 else []
        msgs += ([{"role": "user", "content": f"What is {a} plus {b}?"},
                  {"role": "assistant", "content": f"The total is {a + b}."}] if i % 3 else
                 [{"role": "user", "content": f"Where is order A-{1000 + a}?"},
                  {"role": "assistant", "content": f"Order A-{1000 + a} was shipped {b % 9 + 1} days ago."}])
        rows.append(make_example(source="expert_annotations", drop="d1", row=i + 1, task="qa", messages=msgs))
    return write_parquet(path, pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS)))


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


class Recording(Reporter):
    def __init__(self):
        self.lines, self.steps, self.checkpoints = [], [], []

    def log(self, message):
        self.lines.append(message)

    def step(self, record):
        self.steps.append(record)
        super().step(record)

    def checkpoint(self, info):
        self.checkpoints.append(info)
        super().checkpoint(info)


@pytest.fixture(scope="module")
def single_thread():
    """Two shared CPU cores: one intra-op thread is several times faster for a model this small."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory, single_thread):
    from resources.training.loop import train

    root = tmp_path_factory.mktemp("loop")
    train_path = write_train_set(root / "train.parquet")
    reporter = Recording()
    result = train(TrainConfig(**LOOP_CONFIG), tiny_model_dir, train_path, root / "out", reporter)
    return {"root": root, "train_path": train_path, "out": root / "out", "result": result, "reporter": reporter}


@pytest.mark.slow
def test_loss_goes_down(trained):
    log = read_log(trained["out"] / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, 9))
    losses = [r["loss"] for r in log]
    assert sum(losses[-3:]) / 3 < sum(losses[:2]) / 2 - 0.2, losses
    assert trained["result"]["final_loss"] == losses[-1]
    assert trained["result"]["tokens"] == sum(r["tokens"] for r in log) > 0
    assert log[0]["lr"] == 0.0 and max(r["lr"] for r in log) == pytest.approx(2e-3)  # warmup then cosine
    assert [s["step"] for s in trained["reporter"].steps] == list(range(1, 9))
    assert all(s["tokens_per_s"] > 0 and s["eta_s"] >= 0 for s in trained["reporter"].steps)


@pytest.mark.slow
def test_checkpoints_are_complete(trained):
    result, out = trained["result"], trained["out"]
    log = {r["step"]: r["loss"] for r in read_log(out / "train_log.jsonl")}
    assert [c["step"] for c in result["checkpoints"]] == [4, 8]
    assert [c["step"] for c in trained["reporter"].checkpoints] == [4, 8]
    assert result["final_checkpoint"] == str(out / "checkpoint-000008")
    for c in result["checkpoints"]:
        path = Path(c["path"])
        assert c["loss"] == log[c["step"]]
        assert all((path / f).stat().st_size > 0 for f in ADAPTER_FILES)
        assert {p.name for p in (path / TRAINING_STATE).iterdir()} == {"optimizer.pt", "scheduler.pt", "rng_state.pt"}
        state = read_state(path)
        assert state["step"] == c["step"] and len(state["loss_history"]) == c["step"]
        assert state["micro_batches"] == c["step"] and state["tokens_seen"] > 0
        assert state["config_hash"] == TrainConfig(**LOOP_CONFIG).config_hash() and state["data_hash"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left behind
    assert result["adapter_hash"] == adapter_hash(out / "checkpoint-000008")


@pytest.mark.slow
def test_adapter_loads_with_peft_on_the_4bit_base(trained, tiny_model_dir):
    import torch

    from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
    from resources.training.dataset import BatchStream, load_documents
    from resources.training.packing import n_targets

    tok = load_tokenizer(tiny_model_dir)
    docs = load_documents(trained["train_path"], tok, 256).docs
    batch, _ = BatchStream(docs, max_seq_len=256, micro_batch_size=4, packing=True, seed=0,
                           pad_id=tok.pad_token_id).micro_batch(0)

    def loss(model):
        with torch.no_grad():
            return model(**batch, use_cache=False, num_items_in_batch=n_targets(batch)).loss.item()

    base = load_causal_lm(tiny_model_dir, quantize_4bit=True, device="cpu").eval()
    base_loss = loss(base)
    tuned = load_adapter(base, trained["out"] / "checkpoint-000008").eval()  # refuses pickles: training_state/ is apart
    assert type(tuned.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__ == "Linear4bit"
    assert loss(tuned) < base_loss - 0.2


@pytest.mark.slow
def test_resume_continues_exactly(trained, tiny_model_dir, tmp_path):
    """Resuming from checkpoint 4 ends at the very same adapter as the uninterrupted run."""
    from resources.training.loop import train

    out = tmp_path / "out"
    out.mkdir()
    shutil.copytree(trained["out"] / "checkpoint-000004", out / "checkpoint-000004")
    full_log = read_log(trained["out"] / "train_log.jsonl")
    # the interrupted run had logged two steps past its checkpoint before it died
    (out / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in full_log[:6]) + '{"step": 7, "lo')
    result = train(TrainConfig(**LOOP_CONFIG), tiny_model_dir, trained["train_path"], out, Recording())
    assert result["resumed_from"] == 4
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, 9))
    assert log[:4] == full_log[:4]  # kept as written, steps 5..8 run again
    assert [r["loss"] for r in log[4:]] == pytest.approx([r["loss"] for r in full_log[4:]], abs=1e-6)
    assert result["adapter_hash"] == trained["result"]["adapter_hash"]


@pytest.mark.slow
def test_resume_refuses_a_changed_config(trained, tiny_model_dir, tmp_path):
    from resources.training.loop import ResumeMismatch, train

    shutil.copytree(trained["out"] / "checkpoint-000004", tmp_path / "checkpoint-000004")
    with pytest.raises(ResumeMismatch, match=r"changed: \['learning_rate'\]"):
        train(TrainConfig(**{**LOOP_CONFIG, "learning_rate": 1e-4}), tiny_model_dir, trained["train_path"],
              tmp_path, Recording())


def test_latest_checkpoint_skips_partial_folders(tmp_path):
    def fake(name, files):
        for f in files:
            (tmp_path / name / f).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / f).write_text("{}")

    complete = list(ADAPTER_FILES) + ["trainer_state.json"] + [f"{TRAINING_STATE}/{f}" for f in
                                                               ("optimizer.pt", "scheduler.pt", "rng_state.pt")]
    fake("checkpoint-000002", complete)
    fake("checkpoint-000010", complete)
    fake("checkpoint-000012", complete[:-1])  # no RNG state: not ours, or not finished
    fake(".checkpoint-000014.k2j3.tmp", complete)  # a write in progress (or killed mid-way)
    fake("checkpoint-final", complete)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-000010"
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-000002", "checkpoint-000010"]
    assert remove_stale_temporaries(tmp_path) == [".checkpoint-000014.k2j3.tmp"]
    assert latest_checkpoint(tmp_path / "nowhere") is None
