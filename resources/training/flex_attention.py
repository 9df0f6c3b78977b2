"""Attention for packed rows through FlexAttention (``flex_attention`` TrainConfig switch, "auto": on a CUDA GPU).

A packed row holds several documents that must not see each other (packing.py). Under transformers' default
``sdpa`` that separation is a dense [rows x 1 x length x length] mask, and with a mask PyTorch's SDPA takes its
memory-efficient kernel, which

* computes every block of the row, those between documents too (chats average 420 tokens in rows of 2,048:
  most of the causal triangle is masked), and
* cannot run grouped-query attention, so transformers repeats K and V to every query head first, and autograd
  keeps those copies: on Llama-3-8B 12 KiB per token per layer, 11 % of what a kept layer saves.

transformers' ``flex_attention`` gets the same documents as a block mask: FlexAttention skips the blocks between
documents and reads K and V at their own head count. On one H200 (8B, 8 GiB activation budget, rows of 2,048) that
was 11,325 tokens/s against 9,879 with sdpa, and the plan kept 9 layers instead of 7 (benchmarks/README.md).

The price is compilation: torch.compile builds the kernels in the first step (about 20 s on an H200), and again
for new batch shapes. So under FlexAttention every packed micro-batch is padded to the full row width (one shape;
rows of short chats are full anyway), and ``auto`` takes it only where that was measured to pay: packed SFT rows of
up to ``AUTO_MAX_ROW`` tokens. With long documents in rows of 8,192 the rows' widths vary and the kernels were
rebuilt inside the timed steps (1,512 tokens/s against 3,594 for classic checkpointing, both under flex), so
there, for DPO's padded pairs, and without a GPU, ``auto`` keeps sdpa; ``on`` forces it where it can run
(FlexAttention on CPU would compile C++ through the inductor, which is refused). The held-out loss of early
stopping batches examples of every length: it runs under sdpa (``sdpa_while``).
"""

from __future__ import annotations

import contextlib

from resources.training.config import TrainConfig

IMPLEMENTATION = "flex_attention"
AUTO_MAX_ROW = 2048  # the longest rows auto puts through FlexAttention (measured: 2,048 pays, 8,192 did not)


def flex_attention_on(model, cfg: TrainConfig, device: str) -> bool:
    """Whether this run's model computes attention with FlexAttention; raises where ``on`` cannot be honoured."""
    forced = cfg.flex_attention == "on"
    measured = cfg.objective == "sft" and cfg.packing and cfg.max_seq_len <= AUTO_MAX_ROW
    if cfg.flex_attention == "off" or (not forced and not (str(device).startswith("cuda") and measured)):
        return False
    problem = None
    if not str(device).startswith("cuda"):
        problem = "needs a CUDA GPU (its kernels are compiled with Triton)"
    elif not getattr(model, "_supports_flex_attn", False):
        problem = f"{type(model).__name__} does not support FlexAttention in transformers"
    elif getattr(model.config, "attention_dropout", 0.0):
        problem = "FlexAttention has no attention dropout, and this model's config sets one"
    else:
        try:
            import torch.nn.attention.flex_attention  # noqa: F401
        except ImportError as exc:
            problem = f"this torch has no FlexAttention ({exc})"
    if problem and forced:
        raise RuntimeError(f"flex_attention: on, but {problem}; set flex_attention: auto or off")
    return problem is None


def apply_flex_attention(model, cfg: TrainConfig, device: str) -> bool:
    """Switch ``model`` (the transformers model, before peft wraps it) to FlexAttention where it applies."""
    if not flex_attention_on(model, cfg, device):
        return False
    model.set_attn_implementation(IMPLEMENTATION)
    return True


def uses_flex_attention(model) -> bool:
    return getattr(model.config, "_attn_implementation", None) == IMPLEMENTATION


@contextlib.contextmanager
def sdpa_while(model):
    """sdpa for forwards whose batches vary in shape (the held-out loss), FlexAttention again afterwards."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not uses_flex_attention(base):
        yield
        return
    base.set_attn_implementation("sdpa")
    try:
        yield
    finally:
        base.set_attn_implementation(IMPLEMENTATION)
