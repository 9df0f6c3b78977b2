"""The model being trained: the base in 4-bit NF4 (double quantisation), frozen, with LoRA adapters on top
(or, with ``quantization: none``, the base in its compute dtype: plain LoRA, for CPU runs)."""

from __future__ import annotations

from pathlib import Path

from resources.training.config import TrainConfig


def lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules_value(), use_rslora=cfg.use_rslora, use_dora=cfg.use_dora,
                      bias="none", task_type="CAUSAL_LM")


def build_qlora_model(cfg: TrainConfig, base_model_dir: Path | str, device: str, *, trust_remote_code: bool = False,
                      allow_pickle: bool = False):
    """QLoRA recipe: quantised frozen base, gradient checkpointing, LoRA on top.

    On CPU: peft's prepare_model_for_kbit_training (norms upcast to fp32). On a CUDA GPU, by default, the frozen
    weights stay bf16 and Liger's kernels are patched in where installed (speed.py says why).
    """
    from peft import get_peft_model

    from resources.model.loading import load_causal_lm
    from resources.training.flex_attention import apply_flex_attention
    from resources.training.speed import apply_liger_kernels, prepare_frozen_base

    base = load_causal_lm(base_model_dir, quantize_4bit=cfg.quantization == "nf4", device=device,
                          trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    base.config.use_cache = False  # a KV cache is useless in training and would disable packed-sequence masking
    apply_liger_kernels(base, cfg, device)
    apply_flex_attention(base, cfg, device)
    base = prepare_frozen_base(base, cfg, device)
    model = get_peft_model(base, lora_config(cfg))
    if cfg.lean_lora == "on":  # under "auto" the activation plan decides (activation_plan.py)
        from resources.training.lean_lora import install_lean_lora

        install_lean_lora(model)
    return model


def load_adapter_weights(model, checkpoint: Path | str) -> None:
    """Put a saved adapter's weights into the freshly built peft model (same LoRA config, checked by hash)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = load_file(str(Path(checkpoint) / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise RuntimeError(f"{checkpoint}: adapter weights {unexpected[:5]} do not fit the model being trained")
