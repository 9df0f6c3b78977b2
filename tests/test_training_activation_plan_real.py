"""The activation plan and lean_lora on the real SmolLM2-135M (30 layers, grouped-query attention, tied
embeddings), 4-bit NF4 on CPU: every plan trains the same steps as the classic recipe."""

from __future__ import annotations

import pytest

from resources.training.config import TrainConfig
from test_real_model import _examples, _write
from test_training_loop import Recording

RUN = dict(max_steps=2, save_every=100, micro_batch_size=4, max_seq_len=128, learning_rate=1e-3, warmup_steps=0,
           lora_r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0)


@pytest.mark.slow
def test_plans_on_smollm2_train_the_same_steps_as_classic_checkpointing(smollm2_dir, tmp_path):
    from resources.training.loop import train

    train_path = _write(tmp_path / "train.parquet", _examples("train"))
    runs = {}
    for name, knobs in {"off": dict(activation_memory="off", lean_lora="off"),
                        "tight": dict(activation_memory="0.02", lean_lora="off"),
                        "all-kept-lean": dict(activation_memory="10", lean_lora="on")}.items():
        reporter = Recording()
        train(TrainConfig(**RUN, **knobs), smollm2_dir, train_path, tmp_path / name, reporter)
        runs[name] = {"steps": [v for s in reporter.steps for v in (s["loss"], s["grad_norm"])],
                      "plan": [line for line in reporter.lines if line.startswith("activation plan")]}
    assert runs["off"]["plan"] == []
    assert runs["tight"]["plan"][0].startswith("activation plan: 1 of 30 layers keep their activations")
    assert "4 piece(s)" in runs["tight"]["plan"][0]
    assert runs["all-kept-lean"]["plan"][0].startswith("activation plan: 30 of 30 layers keep")
    for name in ("tight", "all-kept-lean"):
        assert runs[name]["steps"] == pytest.approx(runs["off"]["steps"], rel=1e-4), name
