"""lean_lora.py computes what peft's LoRA forward computes, with the dropout mask drawn again from a seed."""

from __future__ import annotations

import pytest
import torch

from resources.training.lean_lora import _SEED_RANGE, install_lean_lora


@pytest.fixture(autouse=True)
def one_thread():
    """Two shared CPU cores: these matrices are far too small to gain from threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lora_net(widths=(16, 24, 8), dropout=0.0, **config):
    """Linear layers in a row, every one adapted; B is random (not peft's zeros) so every weight gets a gradient."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    layers = [torch.nn.Linear(a, b) for a, b in zip(widths, widths[1:])]
    targets = [str(i) for i in range(len(layers))]
    cfg = LoraConfig(**{"r": 4, "lora_alpha": 8, **config}, lora_dropout=dropout, target_modules=targets,
                     init_lora_weights=False)
    return get_peft_model(torch.nn.Sequential(*layers), cfg)


def adapted(model) -> list:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def run(model, x, weight):
    """Output and the gradients of (x, every lora_A, every lora_B) for the loss ``sum(out * weight)``."""
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    (out.float() * weight).sum().backward()
    grads = [p.grad.clone() for n, p in model.named_parameters() if "lora_" in n]
    return out.detach(), x.grad.clone(), grads


def assert_same(got, want, atol=1e-5, rtol=1e-4):
    out, gx, grads = got
    torch.testing.assert_close(out, want[0], atol=atol, rtol=rtol)
    torch.testing.assert_close(gx, want[1], atol=atol, rtol=rtol)
    assert len(grads) == len(want[2]) > 0
    for g, w in zip(grads, want[2]):
        torch.testing.assert_close(g, w, atol=atol, rtol=rtol)


def test_without_dropout_output_and_gradients_equal_peft():
    model = lora_net()
    x, weight = torch.randn(3, 5, 16), torch.randn(3, 5, 8)
    want = run(model, x, weight)
    assert install_lean_lora(model) == 2
    got = run(model, x, weight)
    assert type(model(x).grad_fn).__name__ == "LoRAUpdateBackward"  # the lean path ran, not peft's
    assert_same(got, want)


def test_under_bf16_autocast_it_computes_as_peft_does():
    """The matmuls in bf16 (outputs as close as bf16 rounding allows), gradients in the weights' fp32."""
    model = lora_net(widths=(64, 96, 32))
    x, weight = torch.randn(4, 9, 64), torch.randn(4, 9, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = run(model, x, weight)
        install_lean_lora(model)
        got = run(model, x, weight)
    assert got[0].dtype == want[0].dtype == torch.bfloat16
    for a, b in [(got[0], want[0]), (got[1], want[1])] + list(zip(got[2], want[2])):
        assert a.dtype == b.dtype
        assert (a.float() - b.float()).abs().max() <= 0.02 * b.float().abs().max()


@pytest.mark.parametrize("quantize_4bit", [False, True], ids=["fp32", "nf4"])
def test_tiny_model_equals_peft(tiny_model_dir, quantize_4bit):
    """A whole decoder (every linear adapted) in training mode, on its fp32 weights and on bitsandbytes' NF4."""
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    base = load_causal_lm(tiny_model_dir, quantize_4bit=quantize_4bit, device="cpu")
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear",
                                            init_lora_weights=False)).train()
    if quantize_4bit:
        assert type(adapted(model)[0].base_layer).__name__ == "Linear4bit"
    ids = torch.randint(0, model.get_input_embeddings().num_embeddings, (2, 24))
    embeds = model.get_input_embeddings()(ids).detach()

    def step():
        model.zero_grad(set_to_none=True)
        x = embeds.clone().requires_grad_(True)
        out = model(inputs_embeds=x, labels=ids, use_cache=False)
        out.loss.backward()
        return out.logits.detach(), x.grad, [p.grad.clone() for n, p in model.named_parameters() if "lora_" in n]

    want = step()
    layers = model.base_model.model.config.num_hidden_layers
    assert install_lean_lora(model) == 7 * layers  # q k v o gate up down; all-linear leaves lm_head out
    assert_same(step(), want, atol=1e-4, rtol=1e-3)


def test_dropout_mask_comes_from_the_seed():
    """Reproduce the mask by hand from the seed the layer draws off torch's CPU generator."""
    p = 0.3
    model = lora_net(widths=(64, 32), dropout=p)
    install_lean_lora(model)
    layer = adapted(model)[0]
    a, b, scaling = layer.lora_A["default"].weight, layer.lora_B["default"].weight, layer.scaling["default"]
    x, weight = torch.randn(4, 50, 64), torch.randn(4, 50, 32)
    torch.manual_seed(11)
    got = run(model, x, weight)
    torch.manual_seed(11)
    seed = int(torch.randint(_SEED_RANGE, (1,)).item())
    gen = torch.Generator().manual_seed(seed)
    keep = torch.empty(200, 64).bernoulli_(1.0 - p, generator=gen).view(4, 50, 64)
    assert abs((1 - keep.mean().item()) - p) < 0.02  # 12,800 draws

    # the reference: peft's formula with that explicit mask, through plain autograd
    ax, aa, bb = x.clone().requires_grad_(True), a.detach().clone().requires_grad_(True), b.detach().clone()
    bb.requires_grad_(True)
    out = layer.base_layer(ax) + (ax * keep / (1 - p)) @ aa.t() @ bb.t() * scaling
    (out * weight).sum().backward()
    assert_same(got, (out.detach(), ax.grad, [aa.grad, bb.grad]))

    torch.manual_seed(12)  # another seed, another mask
    assert not torch.allclose(run(model, x, weight)[0], got[0])


def test_dropout_drops_a_share_p_and_scales_the_rest():
    """Identity adapters on a zero base layer: the output is dropout(x) itself."""
    p = 0.25
    model = lora_net(widths=(32, 32), dropout=p, r=32, lora_alpha=32)
    install_lean_lora(model)
    layer = adapted(model)[0]
    with torch.no_grad():
        layer.base_layer.weight.zero_()
        layer.base_layer.bias.zero_()
        layer.lora_A["default"].weight.copy_(torch.eye(32))
        layer.lora_B["default"].weight.copy_(torch.eye(32))
    assert layer.scaling["default"] == 1.0
    x = torch.rand(256, 32) + 0.5  # no zeros of its own
    out = model(x).detach()
    dropped = out == 0
    assert abs(dropped.float().mean().item() - p) < 0.02  # 8,192 draws
    torch.testing.assert_close(out[~dropped], x[~dropped] / (1 - p))
    model.eval()  # no dropout in eval mode
    torch.testing.assert_close(model(x).detach(), x)


def test_checkpointed_recomputation_draws_the_same_mask():
    """Non-reentrant checkpointing restores the CPU RNG state before recomputing, so the seeds repeat."""
    from torch.utils.checkpoint import checkpoint

    model = lora_net(dropout=0.5)
    install_lean_lora(model)
    x, weight = torch.randn(3, 7, 16), torch.randn(3, 7, 8)

    def grads(wrap):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        xx = x.clone().requires_grad_(True)
        (wrap(xx) * weight).sum().backward()
        return [xx.grad] + [p.grad.clone() for n, p in model.named_parameters() if "lora_" in n]

    plain = grads(model)
    checkpointed = grads(lambda t: checkpoint(model, t, use_reentrant=False))
    for g, w in zip(checkpointed, plain):
        torch.testing.assert_close(g, w)
    # the control: a recomputation that draws fresh seeds gives other gradients
    other = grads(lambda t: checkpoint(model, t, use_reentrant=False, preserve_rng_state=False))
    assert not all(torch.allclose(g, w) for g, w in zip(other, plain))


def test_dora_and_merged_adapters_keep_peft_forward():
    model = lora_net(use_dora=True)
    x = torch.randn(3, 16)
    want = model(x)
    assert install_lean_lora(model) == 2  # installed; DoRA is refused at call time, per adapter
    got = model(x)
    assert type(got.grad_fn).__name__ != "LoRAUpdateBackward"
    torch.testing.assert_close(got, want)

    plain = lora_net()
    install_lean_lora(plain)
    want = plain(x).detach()
    for layer in adapted(plain):
        layer.merge()
    got = plain(x)
    assert type(got.grad_fn).__name__ != "LoRAUpdateBackward"
    torch.testing.assert_close(got.detach(), want, atol=1e-5, rtol=1e-4)


def test_disabled_adapters_give_the_base_output():
    model = lora_net()
    install_lean_lora(model)
    x = torch.randn(3, 16)
    base = x
    for layer in adapted(model):
        base = layer.base_layer(base)
    with model.disable_adapter():
        torch.testing.assert_close(model(x), base)
    assert not torch.allclose(model(x), base)  # the adapters do change the output when on


def test_layers_peft_computes_otherwise_are_not_patched():
    assert install_lean_lora(lora_net(lora_bias=True)) == 0  # a bias on lora_B
    assert install_lean_lora(torch.nn.Sequential(torch.nn.Linear(4, 4))) == 0  # no LoRA at all
