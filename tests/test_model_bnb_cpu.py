"""A 4-bit model behaves the same on every x86 CPU, whether or not it has AVX512-BF16 (resources/model/bnb_cpu.py).

bitsandbytes decides at layer construction, from ``has_avx512bf16()``, whether to repack 4-bit weights for its
bf16 CPU kernel. Every test runs with that detection forced on and forced off, so both paths are checked here
whichever CPU runs the suite.
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=[True, False], ids=["avx512bf16", "no-avx512bf16"])
def cpu_flag(request, monkeypatch):
    import bitsandbytes.nn.modules as bnb_modules

    # Linear4bit.__init__ reads this name from its own module, so the layers built by the load see the forced value.
    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: request.param)
    return request.param


@pytest.fixture(scope="module")
def odd_model_dir(tmp_path_factory):
    """A Llama whose widths fit no quantisation block: hidden 96 (1.5 blocks of 64) and an MLP of 352 (5.5)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=96, intermediate_size=352, num_hidden_layers=2,
                         num_attention_heads=3, num_key_value_heads=1, max_position_embeddings=64,
                         tie_word_embeddings=False)
    dest = tmp_path_factory.mktemp("odd") / "model"
    LlamaForCausalLM(config).save_pretrained(dest, safe_serialization=True)
    return dest


def _lora_model(model_dir):
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    base = load_causal_lm(model_dir, quantize_4bit=True, device="cpu")
    return get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear",
                                           init_lora_weights=False))  # non-zero B: every LoRA weight gets a gradient


def _train_step(model, ids):
    """Logits and LoRA gradients of one training-mode forward and backward."""
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, labels=ids, use_cache=False)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out.logits.detach(), grads


@pytest.mark.parametrize("which", ["tiny", "odd"])
def test_evaluating_a_4bit_model_matches_training_and_leaves_it_trainable(which, cpu_flag, tiny_model_dir,
                                                                          odd_model_dir):
    import torch

    model = _lora_model(tiny_model_dir if which == "tiny" else odd_model_dir)
    ids = torch.randint(3, 200, (2, 24), generator=torch.Generator().manual_seed(0))
    train_logits, train_grads = _train_step(model, ids)

    model.eval()
    with torch.no_grad():  # the mode in which bitsandbytes repacks, if it is allowed to
        eval_logits = model(input_ids=ids, use_cache=False).logits
    # Same fp32 arithmetic in both modes: a bf16 kernel would be off by ~1e-2 here, and an odd width would crash.
    torch.testing.assert_close(eval_logits, train_logits, rtol=1e-4, atol=1e-4)

    _, grads_after = _train_step(model, ids)
    assert grads_after.keys() == train_grads.keys() and len(grads_after) > 0
    for name, grad in train_grads.items():  # a repacked layer passes no gradient back: the ones below it change
        torch.testing.assert_close(grads_after[name], grad, rtol=1e-4, atol=1e-6, msg=name)
