"""LoRA inputs that backward recomputes instead of keeping, because they are cheap functions of tensors that
autograd keeps anyway.

lean_lora.py's ``LoRAUpdate`` keeps each adapted layer's input for lora_A's weight gradient. In a Llama-style
decoder layer three of those inputs are elementwise functions of tensors that other backward functions keep:

* the normalised hidden states that q, k, v (and gate, up) read: the RMSNorm keeps its input to differentiate
  itself, and normalising it again is one pass over it;
* the gated product ``act(gate) * up`` that down_proj reads: the activation keeps ``gate`` and ``up``.

On Llama-3-8B those are 44 of the 153 KiB a kept layer saves per token (with Liger's kernels), and the bytes a
layer saves decide how many layers an activation budget lets skip recomputation (activation_plan.py). Backward
recomputes them from the kept sources with the same function the forward ran (same kernel, same inputs, the same
autocast state), so the gradients are bit for bit those of keeping them.

``install_derived_inputs`` patches the two norms and the MLP of each decoder layer of the architectures whose
layer is written that way (FUSED_LOSS_MODEL_TYPES); the patched forward marks its output with the recipe
(``recipe(tensor)``) and LoRAUpdate saves the recipe's sources in place of the tensor.
"""

from __future__ import annotations

import functools
import types

_RECIPE = "_privft_recipe"
_NORMS = ("input_layernorm", "post_attention_layernorm")


def mark(tensor, fn, *sources):
    """Record that ``tensor`` equals ``fn(*sources)``."""
    setattr(tensor, _RECIPE, (fn, sources))
    return tensor


def recipe(tensor):
    """``(fn, sources)`` for a marked tensor, else None."""
    return getattr(tensor, _RECIPE, None)


def _own_forward(module):
    """The forward ``module`` ran before we patched it (Liger binds its own on the instance)."""
    return module._privft_forward or functools.partial(type(module).forward, module)


def _norm_forward(self, hidden):
    forward = _own_forward(self)
    return mark(forward(hidden), forward, hidden)


def _is_liger_mlp(mlp) -> bool:
    bound = mlp.__dict__.get("forward")
    return getattr(getattr(bound, "__func__", None), "__qualname__", "") == "LigerSwiGLUMLP.forward"


def _gated_product(mlp):
    """The MLP's ``act(gate) * up`` as one function: Liger's kernel where Liger patched the MLP."""
    if _is_liger_mlp(mlp):
        from liger_kernel.transformers.swiglu import _swiglu_dispatch

        return _swiglu_dispatch
    return lambda gate, up: mlp.act_fn(gate) * up


def _mlp_forward(self, x):
    gate, up = self.gate_proj(x), self.up_proj(x)
    product = self._privft_product(gate, up)
    return self.down_proj(mark(product, self._privft_product, gate, up))


def _patchable_mlp(mlp) -> bool:
    """Liger's SwiGLU MLP, or the architecture's own ``down(act(gate(x)) * up(x))``."""
    plain = "forward" not in mlp.__dict__ and hasattr(mlp, "act_fn")
    return (_is_liger_mlp(mlp) or plain) and all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj"))


def _patch(module, forward) -> None:
    module._privft_forward = module.__dict__.get("forward")
    module.forward = types.MethodType(forward, module)


def install_derived_inputs(model) -> int:
    """Patch the decoder layers' norms and MLPs of ``model`` (Llama, Mistral, Qwen2/3); how many modules were."""
    from resources.training.activation_plan import decoder_layers
    from resources.training.speed import FUSED_LOSS_MODEL_TYPES

    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in FUSED_LOSS_MODEL_TYPES:
        return 0
    count = 0
    for layer in decoder_layers(model):
        for norm in (getattr(layer, name, None) for name in _NORMS):
            if norm is not None and not _patched(norm):
                _patch(norm, _norm_forward)
                count += 1
        mlp = getattr(layer, "mlp", None)
        if mlp is not None and not _patched(mlp) and _patchable_mlp(mlp):
            mlp._privft_product = _gated_product(mlp)
            _patch(mlp, _mlp_forward)
            count += 1
    return count


def _patched(module) -> bool:
    return getattr(module.__dict__.get("forward"), "__func__", None) in (_norm_forward, _mlp_forward)


def uninstall_derived_inputs(model) -> None:
    for module in model.modules():
        if _patched(module):
            previous = module.__dict__.pop("_privft_forward")
            del module.forward
            module.__dict__.pop("_privft_product", None)
            if previous is not None:
                module.forward = previous
