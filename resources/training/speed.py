"""GPU speed features of the trainer, each behind a TrainConfig switch: "auto" = on for a CUDA GPU, off on CPU.

CPU runs (tests, the tiny default model) keep the plain QLoRA recipe exactly; on a GPU the defaults turn on what
benchmarks/train_throughput.py measured to pay (numbers in benchmarks/README.md):

* ``frozen_in_compute_dtype``: peft's ``prepare_model_for_kbit_training`` upcasts every non-quantised frozen
  weight (embeddings, norms, an untied output head) to fp32. The embedding output is then fp32, so the whole
  residual stream, every norm and every checkpointed activation is fp32: twice the activation memory and
  memory traffic, plus 2 x vocab x hidden x 2 bytes of weights (2 GiB for Llama-3-8B). Instead we freeze the
  base and leave it in bf16, which is what it was trained in; the LoRA weights stay fp32 (peft's default) and
  autocast runs their matmuls in bf16.
* ``liger_kernels``: Liger's Triton kernels for RMSNorm, SwiGLU and RoPE (fewer, fused memory-bound kernels).
  Needs the optional ``liger-kernel`` package; "auto" skips it quietly where it is not installed.
* ``fused_loss``: see fused_loss.py (the loss never materialises [tokens x vocab] logits).
"""

from __future__ import annotations

import warnings

from resources.training.config import TrainConfig

# Architectures whose causal-LM head is plain ``lm_head(hidden)`` (no logit soft-capping or scaling), so the
# chunked loss computes exactly what their forward would.
FUSED_LOSS_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
LIGER_PATCHES = {"llama": "apply_liger_kernel_to_llama", "mistral": "apply_liger_kernel_to_mistral",
                 "qwen2": "apply_liger_kernel_to_qwen2", "qwen3": "apply_liger_kernel_to_qwen3"}


def switch_on(value: str, device: str) -> bool:
    """Resolve an "auto"/"on"/"off" switch for the device we train on."""
    return value == "on" or (value == "auto" and str(device).startswith("cuda"))


def prepare_frozen_base(model, cfg: TrainConfig, device: str):
    """Freeze the base and switch gradient checkpointing on; upcast frozen weights only on request."""
    from peft import prepare_model_for_kbit_training

    if not switch_on(cfg.frozen_in_compute_dtype, device):
        # freezes and upcasts; it enables checkpointing only on a quantised base, so that is done below for both
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        for param in model.parameters():
            param.requires_grad = False
    if cfg.gradient_checkpointing:
        with warnings.catch_warnings():  # renamed to activation_checkpointing_enable in newer transformers
            warnings.simplefilter("ignore", FutureWarning)
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def apply_liger_kernels(model, cfg: TrainConfig, device: str) -> bool:
    """Patch the model instance with Liger's kernels; True when applied. Call before get_peft_model."""
    if not switch_on(cfg.liger_kernels, device):
        return False
    model_type = getattr(model.config, "model_type", "?")
    forced = cfg.liger_kernels == "on"
    if model_type not in LIGER_PATCHES:
        if forced:
            raise RuntimeError(f"liger_kernels: on, but this trainer only patches {sorted(LIGER_PATCHES)} models, "
                               f"not {model_type!r}; set liger_kernels: auto or off")
        return False
    if not str(device).startswith("cuda"):
        raise RuntimeError("liger_kernels: on needs a CUDA GPU (Triton kernels); set liger_kernels: auto or off")
    try:
        import liger_kernel.transformers as liger
    except Exception as exc:  # not installed, or built against other torch/transformers versions
        if forced:
            raise RuntimeError(f"liger_kernels: on, but liger-kernel cannot be imported in the training environment "
                               f"({type(exc).__name__}: {exc}); pip install liger-kernel, or set liger_kernels: "
                               "auto or off") from exc
        warnings.warn(f"liger_kernels: auto: liger-kernel unavailable ({type(exc).__name__}), training without it")
        return False
    # the loss is ours (fused_loss.py), so Liger's cross-entropy replacements stay off
    getattr(liger, LIGER_PATCHES[model_type])(rope=True, rms_norm=True, swiglu=True, cross_entropy=False,
                                               fused_linear_cross_entropy=False, model=model)
    return True


def fused_loss_on(model, cfg: TrainConfig, device: str) -> bool:
    if not switch_on(cfg.fused_loss, device):
        return False
    model_type = getattr(model.config, "model_type", "?")
    if model_type in FUSED_LOSS_MODEL_TYPES:
        return True
    if cfg.fused_loss == "on":
        raise RuntimeError(f"fused_loss: on supports {list(FUSED_LOSS_MODEL_TYPES)} models, not {model_type!r} "
                           "(its output head may scale or cap logits); set fused_loss: auto or off")
    return False
