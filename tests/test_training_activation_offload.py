"""activation_offload.py and the plans that offload: what goes to the host comes back unchanged, in time."""

from __future__ import annotations

import pytest
import torch

from resources.training.activation_offload import ActivationOffload
from resources.training.activation_plan import ActivationPlan, apply, choose, decoder_layers, offload_fits
from test_training_derived_inputs import adapted_tiny, step
from test_training_lean_lora import one_thread  # noqa: F401

SHAPE = dict(layers=8, rows=4, row_tokens=512, bytes_per_token=40_000.0, input_bytes_per_token=2_000.0)


def plan_of(layers, kept, offloaded, tokens=32) -> ActivationPlan:
    return ActivationPlan(layers=layers, kept=kept, split=1, budget_bytes=1e12, bytes_per_token=1.0,
                          input_bytes_per_token=1.0, tokens=tokens, offloaded=offloaded)


@pytest.mark.parametrize("lean", [False, True], ids=["peft", "lean"])
def test_offloaded_layers_give_the_same_gradients_bit_for_bit(tiny_model_dir, lean):
    from resources.training.lean_lora import install_lean_lora

    model = adapted_tiny(tiny_model_dir, dropout=0.1)
    if lean:
        install_lean_lora(model)
    ids = torch.randint(0, model.get_input_embeddings().num_embeddings, (2, 24))
    want = step(model, ids)
    layers = decoder_layers(model)
    offload = apply(plan_of(len(layers), kept=0, offloaded=len(layers)), model)
    offload.min_bytes = 0  # the tiny model's tensors are all small
    got = step(model, ids)
    assert offload.bytes_out > 0 and set(offload.saved) == set(range(len(layers)))
    # every saved tensor was asked back as often as it was saved, and nothing of it is held any more
    assert all(s.uses == 0 and s.host is None and s.back is None for ss in offload.saved.values() for s in ss)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert torch.equal(g, w)
    offload.remove()
    assert not any(layer._forward_pre_hooks or layer._forward_hooks for layer in layers)


def test_a_tensor_saved_three_times_goes_out_once(tiny_model_dir):
    from resources.training.lean_lora import install_lean_lora
    from resources.training.derived_inputs import uninstall_derived_inputs

    model = adapted_tiny(tiny_model_dir)
    install_lean_lora(model)
    uninstall_derived_inputs(model)  # q, k and v each keep the same normalised input
    layers = decoder_layers(model)
    offload = apply(plan_of(len(layers), kept=len(layers) - 1, offloaded=1), model)
    offload.min_bytes = 0
    model.zero_grad()
    out = model(input_ids=torch.randint(0, 100, (1, 8)), use_cache=False)
    hidden = model.config.hidden_size
    normed = [s for s in offload.saved[0] if s.nbytes == 8 * hidden * 4 and s.uses == 3]
    assert len(normed) == 1  # one copy, unpacked by three backward functions
    out.logits.sum().backward()
    assert normed[0].uses == 0


def test_layers_below_are_fetched_when_backward_reaches_a_layer(tiny_model_dir, monkeypatch):
    model = adapted_tiny(tiny_model_dir)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = decoder_layers(model)
    assert len(layers) >= 4
    offload = apply(plan_of(len(layers), kept=0, offloaded=2), model)  # fetch depth 2
    fetched = []
    monkeypatch.setattr(offload, "_fetch", lambda below: fetched.append(list(below)))
    ids = torch.randint(0, 100, (1, 8))
    model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
    # backward runs the layers top down: layer 3 fetches 1, layer 2 fetches 0 and 1, layer 1 fetches 0
    assert fetched == [[1], [0, 1], [0]]


def test_without_gradients_nothing_is_offloaded(tiny_model_dir):
    model = adapted_tiny(tiny_model_dir)
    layers = decoder_layers(model)
    offload = apply(plan_of(len(layers), kept=0, offloaded=len(layers)), model)
    offload.min_bytes = 0
    with torch.no_grad():
        model(input_ids=torch.randint(0, 100, (1, 8)), use_cache=False)
    assert offload.bytes_out == 0 and not offload.saved


def test_plans_offload_only_what_pcie_hides_and_the_host_holds():
    tight = 3.5 * 40_000 * 2048  # three and a half kept layers' worth
    without = choose(tight, **SHAPE)
    assert without.offloaded == 0 and without.kept == 2  # the recomputed one's working set takes the rest
    fast = choose(tight, **SHAPE, copy_ratio=0.5, host_bytes=1e15)
    assert fast.offloaded > 0 and fast.relative_cost() < without.relative_cost()
    assert offload_fits(fast.offloaded, fast.kept, 8, 0.5) and fast.activation_bytes() <= tight
    assert fast.summary().count("offload theirs to host memory") == 1
    slow = choose(tight, **SHAPE, copy_ratio=3.0, host_bytes=1e15)
    assert slow.offloaded * 3.0 <= 8 - slow.kept - 1
    assert fast.offloaded > slow.offloaded
    small_host = choose(tight, **SHAPE, copy_ratio=0.5, host_bytes=40_000 * 2048 * 1.5)
    assert small_host.offloaded == 1
    assert choose(tight, **SHAPE, copy_ratio=None, host_bytes=1e15).offloaded == 0
    # where every layer fits on the GPU nothing is offloaded
    assert (choose(1e15, **SHAPE, copy_ratio=0.1, host_bytes=1e15).kept,
            choose(1e15, **SHAPE, copy_ratio=0.1, host_bytes=1e15).offloaded) == (8, 0)


def test_offload_keeps_room_to_fetch_two_layers_back():
    plan = plan_of(8, kept=0, offloaded=8)
    assert plan.fetch_depth == 2 and plan.recomputed == 0
    assert plan.activation_bytes() == 2 * 32  # two layers' worth, nothing recomputed
    assert plan_of(8, kept=5, offloaded=2).fetch_depth == 5


def test_offload_is_a_switch_of_its_own():
    from resources.training.config import TrainConfig

    assert TrainConfig(activation_offload="off").validate() == []
    [error] = TrainConfig(activation_offload="sometimes").validate()
    assert "activation_offload" in error and "auto" in error
    assert TrainConfig(activation_offload="off").config_hash() == TrainConfig().config_hash()
