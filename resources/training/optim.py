"""Optimiser and learning-rate schedule."""

from __future__ import annotations

from resources.training.config import TrainConfig


def make_optimizer(cfg: TrainConfig, params):
    """``auto``: paged 8-bit AdamW on CUDA (the QLoRA paper's memory saver), plain torch AdamW on CPU."""
    import torch

    params = [p for p in params if p.requires_grad]
    name = cfg.optimizer
    if name == "auto":
        name = "paged_adamw_8bit" if torch.cuda.is_available() else "adamw_torch"
    kwargs = dict(lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    if name == "adamw_torch":
        return torch.optim.AdamW(params, **kwargs)
    if name.startswith("paged_") and not torch.cuda.is_available():
        raise RuntimeError(f"optimizer {cfg.optimizer!r} needs a CUDA GPU (paged memory); "
                           "use optimizer: auto or adamw_torch on CPU")
    import bitsandbytes as bnb

    cls = {"adamw_8bit": bnb.optim.AdamW8bit, "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
           "paged_adamw_32bit": bnb.optim.PagedAdamW32bit}[name]
    return cls(params, **kwargs)


def make_scheduler(cfg: TrainConfig, optimizer):
    from transformers import get_scheduler

    name = "constant_with_warmup" if cfg.lr_scheduler == "constant" else cfg.lr_scheduler
    return get_scheduler(name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps)
