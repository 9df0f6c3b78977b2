"""derived_inputs.py: LoRA's backward recomputes the normalised and gated inputs, bit for bit, and keeps less."""

from __future__ import annotations

import contextlib

import pytest
import torch

from resources.training import activation_probe
from resources.training.derived_inputs import install_derived_inputs, recipe, uninstall_derived_inputs
from resources.training.lean_lora import install_lean_lora, uninstall_lean_lora
from test_training_lean_lora import one_thread  # noqa: F401


def adapted_tiny(tiny_model_dir, quantize_4bit=False, dropout=0.0):
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    base = load_causal_lm(tiny_model_dir, quantize_4bit=quantize_4bit, device="cpu")
    torch.manual_seed(0)
    return get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear",
                                           init_lora_weights=False)).train()


def step(model, ids, seed=1):
    """Loss, input-embedding gradient and every LoRA gradient of one forward and backward."""
    torch.manual_seed(seed)  # the same dropout seeds in both runs
    model.zero_grad(set_to_none=True)
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    out = model(inputs_embeds=x, labels=ids, use_cache=False)
    out.loss.backward()
    return [out.loss.detach(), x.grad] + [p.grad.clone() for n, p in model.named_parameters() if "lora_" in n]


@pytest.mark.parametrize("quantize_4bit,dropout", [(False, 0.0), (True, 0.1)], ids=["fp32", "nf4-dropout"])
def test_gradients_are_bit_for_bit_those_of_keeping_the_inputs(tiny_model_dir, quantize_4bit, dropout):
    model = adapted_tiny(tiny_model_dir, quantize_4bit, dropout)
    ids = torch.randint(0, model.get_input_embeddings().num_embeddings, (2, 24))
    install_lean_lora(model)
    derived = step(model, ids)
    uninstall_derived_inputs(model)  # lean LoRA alone: it keeps every input
    kept = step(model, ids)
    assert len(derived) == len(kept) > 2
    for got, want in zip(derived, kept):
        assert torch.equal(got, want)
    assert not torch.equal(derived[0], step(model, ids, seed=2)[0]) or dropout == 0.0  # the seed does matter


def test_a_kept_layer_saves_less(tiny_model_dir):
    model = adapted_tiny(tiny_model_dir)
    ids = torch.randint(0, 100, (2, 16))
    batch, off = {"input_ids": ids, "labels": ids}, contextlib.nullcontext()
    install_lean_lora(model)
    derived = activation_probe.probe(model, model, batch, off, "cpu")[0]
    uninstall_derived_inputs(model)
    kept = activation_probe.probe(model, model, batch, off, "cpu")[0]
    config = model.config
    # two normalised inputs and the gated product, in the model's dtype (fp32 here)
    assert kept - derived == pytest.approx((2 * config.hidden_size + config.intermediate_size) * 4)


def test_marks_and_patches_come_off_again(tiny_model_dir):
    model = adapted_tiny(tiny_model_dir)
    layers = model.config.num_hidden_layers
    assert install_lean_lora(model) == 7 * layers
    layer = model.base_model.model.model.layers[0]
    hidden = torch.randn(1, 3, model.config.hidden_size)
    normed = layer.input_layernorm(hidden)
    fn, sources = recipe(normed)
    assert sources[0] is hidden and torch.equal(fn(*sources), normed)
    assert install_derived_inputs(model) == 0  # already there
    uninstall_lean_lora(model)
    assert recipe(layer.input_layernorm(hidden)) is None
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_other_architectures_are_left_alone(tiny_model_dir):
    model = adapted_tiny(tiny_model_dir)
    model.config.model_type = "gpt2"  # its MLP and norms are not written act(gate) * up and RMSNorm
    assert install_derived_inputs(model) == 0
