"""LoRA's forward and backward as one autograd function that saves no copy of the layer input.

peft computes ``base(x) + lora_B(lora_A(dropout(x))) * scaling`` from separate modules. Autograd then keeps, for
every adapted linear layer, the dropped-out input (as large as the input) and the dropout mask (one byte per
element), because ``lora_A``'s weight gradient needs the dropped-out input. On Llama-3-8B with 8,192 tokens that
is about 0.65 GiB per decoder layer, 40 % of what a layer saves for backward, and it is the same input seven
times over (q, k, v share one input, gate and up another). peft also clones the base output and adds in a
separate kernel.

``LoRAUpdate`` instead saves the input itself (one tensor, shared by the layers that read it; or, for inputs
derived_inputs.py marks as cheap to recompute, the tensors they are computed from), the small
``[tokens x r]`` projection and a 64-bit seed. Backward draws the same dropout mask again from that seed. The
output is ``addmm(base_out, h, B^T, alpha=scaling)``, one kernel. What is computed is peft's formula: the same
dropout probability and scaling, the matmuls in the compute dtype as autocast would run them, gradients returned
in the adapter weights' dtype. Only the masks' random numbers differ (they come from per-call seeds drawn from
torch's CPU generator, so a checkpointed layer's recomputation, a resumed run and each DDP rank get theirs the
way torch's own dropout would).

Installed per module (``install_lean_lora``) where peft's plain path would run; a module with DoRA, several
adapters, a merged adapter, a LoRA bias or fan_in_fan_out weights keeps peft's forward.
"""

from __future__ import annotations

import types

import torch

from resources.training.derived_inputs import install_derived_inputs, recipe, uninstall_derived_inputs

_SEED_RANGE = 2 ** 62
_GENERATORS: dict = {}  # one per device: building a CUDA generator per call costs more than the dropout itself


def _keep_mask(like: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """0/1 in ``like``'s dtype and shape, each 1 with probability 1 - p; a function of ``seed`` alone."""
    gen = _GENERATORS.get(like.device)
    if gen is None:
        gen = _GENERATORS[like.device] = torch.Generator(device=like.device)
    gen.manual_seed(seed)
    return torch.empty_like(like).bernoulli_(1.0 - p, generator=gen)


class LoRAUpdate(torch.autograd.Function):
    """``base_out + scaling * dropout(x) @ A^T @ B^T`` for ``x`` [..., in], ``A`` [r, in], ``B`` [out, r].

    Inverted dropout's 1 / (1 - p) is folded into the scaling (the update is linear in it), so the mask is
    applied as a plain 0/1 product: one elementwise pass per use. Backward draws the mask once for both
    gradients that need it."""

    @staticmethod
    def forward(ctx, base_out, x, weight_a, weight_b, scaling: float, p: float, seed: int, derive=None, *sources):
        """``derive(*sources)`` equals ``x`` where given (derived_inputs.py): the sources are kept instead of x."""
        dtype = base_out.dtype  # the compute dtype: bf16 under autocast, the model's dtype without it
        a, b = weight_a.to(dtype), weight_b.to(dtype)
        x2 = x.reshape(-1, x.shape[-1]).to(dtype)
        xm = _keep_mask(x2, p, seed).mul_(x2) if p > 0 else x2
        h = xm @ a.t()
        del xm
        scale = scaling / (1.0 - p)
        out = torch.addmm(base_out.reshape(-1, base_out.shape[-1]), h, b.t(), alpha=scale)
        ctx.save_for_backward(h, a, b, *(sources if derive is not None else (x,)))
        ctx.derive, ctx.autocast = derive, _autocast_state(x.device.type)
        ctx.scale, ctx.p, ctx.seed = scale, p, seed
        ctx.weight_dtypes = (weight_a.dtype, weight_b.dtype)
        return out.view(base_out.shape)

    @staticmethod
    def backward(ctx, grad_out):
        h, a, b, *kept = ctx.saved_tensors
        if ctx.derive is None:
            [x] = kept
        else:
            device_type, enabled, autocast_dtype = ctx.autocast
            with torch.no_grad(), torch.autocast(device_type, dtype=autocast_dtype, enabled=enabled):
                x = ctx.derive(*kept)
        dtype_a, dtype_b = ctx.weight_dtypes
        g = grad_out.reshape(-1, grad_out.shape[-1]).to(h.dtype)
        grad_b = (g.t() @ h).mul_(ctx.scale) if ctx.needs_input_grad[3] else None
        gh = (g @ b).mul_(ctx.scale)
        x2 = x.reshape(-1, x.shape[-1]).to(h.dtype)
        keep = _keep_mask(x2, ctx.p, ctx.seed) if ctx.p > 0 else None
        grad_a = grad_x = None
        if ctx.needs_input_grad[2]:
            grad_a = (gh.t() @ (x2 * keep if keep is not None else x2)).to(dtype_a)
        if ctx.needs_input_grad[1]:
            grad_x = gh @ a
            grad_x = (grad_x.mul_(keep) if keep is not None else grad_x).view(x.shape).to(x.dtype)
        return (grad_out, grad_x, grad_a, grad_b.to(dtype_b) if grad_b is not None else None, None, None, None,
                None, *(None for _ in kept if ctx.derive is not None))


def _autocast_state(device_type: str) -> tuple:
    return device_type, torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)


def _lean_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """The adapted layer's forward through ``LoRAUpdate``; anything unusual goes to peft's own forward."""
    adapters = [a for a in self.active_adapters if a in self.lora_A]
    if (self.disable_adapters or self.merged or args or kwargs or len(adapters) != 1
            or adapters[0] in getattr(self, "lora_variant", {}) or self.use_dora.get(adapters[0])):
        return type(self).forward(self, x, *args, **kwargs)
    name = adapters[0]
    dropout = self.lora_dropout[name]
    p = float(dropout.p) if isinstance(dropout, torch.nn.Dropout) and dropout.training else 0.0
    seed = int(torch.randint(_SEED_RANGE, (1,)).item()) if p > 0 else 0
    base_out = self.base_layer(x)
    if torch.is_autocast_enabled(x.device.type):
        base_out = base_out.to(torch.get_autocast_dtype(x.device.type))
    derive, sources = recipe(x) or (None, ())
    return LoRAUpdate.apply(base_out, x, self.lora_A[name].weight, self.lora_B[name].weight,
                            float(self.scaling[name]), p, seed, derive, *sources)


def lean_lora_applies(module) -> bool:
    from peft.tuners.lora import LoraLayer

    if not isinstance(module, LoraLayer) or getattr(module, "fan_in_fan_out", False):
        return False
    if any(getattr(module, "lora_bias", {}).get(n) for n in module.lora_A):
        return False
    return all(isinstance(module.lora_A[n], torch.nn.Linear) for n in module.lora_A)


def install_lean_lora(model) -> int:
    """Route every plain LoRA linear layer of ``model`` through ``LoRAUpdate``; how many were."""
    count = 0
    for module in model.modules():
        if lean_lora_applies(module):
            module.forward = types.MethodType(_lean_forward, module)
            count += 1
    if count:
        install_derived_inputs(model)
    return count


def _is_lean(module) -> bool:
    return getattr(module.__dict__.get("forward"), "__func__", None) is _lean_forward


def uninstall_lean_lora(model) -> None:
    """Back to peft's own forward everywhere."""
    uninstall_derived_inputs(model)
    for module in model.modules():
        if _is_lean(module):
            del module.forward


def lean_lora_installed(model) -> bool:
    return any(_is_lean(m) for m in model.modules())
