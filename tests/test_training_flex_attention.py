"""flex_attention.py: when training switches attention to FlexAttention, and the clear refusals where "on" cannot
be honoured. The kernels themselves run on a GPU only: test_training_flex_attention_cuda.py."""

from __future__ import annotations

import dataclasses

import pytest

from resources.training.config import TrainConfig
from resources.training.flex_attention import (apply_flex_attention, flex_attention_on, sdpa_while,
                                               uses_flex_attention)


@pytest.fixture()
def tiny(tiny_model_dir):
    from resources.model.loading import load_causal_lm

    return load_causal_lm(tiny_model_dir, device="cpu")


def cfg(value: str) -> TrainConfig:
    return dataclasses.replace(TrainConfig(), flex_attention=value)


def test_auto_is_off_on_cpu_and_leaves_the_model_alone(tiny):
    before = tiny.config._attn_implementation
    assert not apply_flex_attention(tiny, cfg("auto"), "cpu")
    assert tiny.config._attn_implementation == before and not uses_flex_attention(tiny)


def test_auto_is_on_for_a_llama_on_a_gpu(tiny):
    assert flex_attention_on(tiny, cfg("auto"), "cuda")
    assert flex_attention_on(tiny, cfg("auto"), "cuda:1")
    assert not flex_attention_on(tiny, cfg("off"), "cuda")


@pytest.mark.parametrize("change", [dict(max_seq_len=4096), dict(objective="dpo"), dict(packing=False)])
def test_auto_keeps_sdpa_where_flex_was_not_measured_to_pay(tiny, change):
    """Long rows vary in width, DPO's pairs are padded: the kernels would compile again for each new shape."""
    assert not flex_attention_on(tiny, dataclasses.replace(cfg("auto"), **change), "cuda")
    assert flex_attention_on(tiny, dataclasses.replace(cfg("on"), **change), "cuda")


def test_switching_sets_transformers_attention(tiny):
    assert apply_flex_attention(tiny, cfg("auto"), "cuda")  # the switch only; nothing runs here
    assert uses_flex_attention(tiny)
    assert all(getattr(m.config, "_attn_implementation", "flex_attention") == "flex_attention"
               for m in tiny.modules() if hasattr(m, "config"))


def test_on_without_a_gpu_is_refused(tiny):
    with pytest.raises(RuntimeError, match="flex_attention: on, but needs a CUDA GPU"):
        flex_attention_on(tiny, cfg("on"), "cpu")


def test_attention_dropout_keeps_sdpa_and_refuses_on(tiny):
    tiny.config.attention_dropout = 0.1
    assert not flex_attention_on(tiny, cfg("auto"), "cuda")
    with pytest.raises(RuntimeError, match="no attention dropout"):
        flex_attention_on(tiny, cfg("on"), "cuda")


def test_a_model_without_flex_support_keeps_its_attention(tiny, monkeypatch):
    monkeypatch.setattr(type(tiny), "_supports_flex_attn", False)
    assert not flex_attention_on(tiny, cfg("auto"), "cuda")
    with pytest.raises(RuntimeError, match="does not support FlexAttention"):
        flex_attention_on(tiny, cfg("on"), "cuda")


def test_the_switch_is_checked_and_not_hashed():
    assert any("flex_attention is 'maybe'" in e for e in cfg("maybe").validate())
    assert not any("flex_attention" in e for e in cfg("on").validate())
    assert cfg("off").config_hash() == cfg("auto").config_hash()


def test_the_heldout_loss_runs_under_sdpa_and_training_goes_back_to_flex(tiny):
    from peft import LoraConfig, get_peft_model

    apply_flex_attention(tiny, cfg("auto"), "cuda")
    model = get_peft_model(tiny, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with sdpa_while(model):
        assert tiny.config._attn_implementation == "sdpa"
    assert uses_flex_attention(tiny) and uses_flex_attention(model)
    with pytest.raises(KeyError), sdpa_while(model):
        raise KeyError("a failing evaluation")
    assert uses_flex_attention(tiny)
