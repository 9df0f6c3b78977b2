"""Keep bitsandbytes' 4-bit weights in their one portable layout on CPU.

On a CPU with AVX512-BF16, bitsandbytes (0.50 here) rewrites a ``Linear4bit`` weight into a kernel-specific layout the
first time the layer runs in eval mode without gradients, and from then on multiplies in bf16. For this project
that layout does only harm, so every 4-bit model loaded here opts out:

* it crashes on layers whose input width is not a multiple of the quantisation block (64) or whose output width is
  not a multiple of 32 (``shape '[128, 5]' is invalid for input of size 704``), so a model that loads and trains on
  one x86 CPU fails on another;
* once rewritten, the layer stays rewritten, and a later training step sends no gradient back through it: the
  adapters below it train on wrong gradients, with no error;
* it computes in bf16 where the rest of the CPU path computes in fp32 (``loading.compute_dtype``), so the same
  batch gives a different loss in eval mode than in training mode, and on this CPU than on another.

The speed it buys is for 4-bit inference on CPU, which no stage here does: 4-bit weights are only loaded to train;
evaluation, merge and smoke inference load 16/32-bit weights.
"""

from __future__ import annotations

# The attribute bitsandbytes' Linear4bit sets in __init__ from has_avx512bf16() and checks in forward().
REPACK_FLAG = "support_avx512bf16_for_cpu"


def keep_4bit_weights_unpacked(model) -> None:
    """Stop every bitsandbytes 4-bit layer of ``model`` from repacking its weight for the AVX512-BF16 kernel."""
    from bitsandbytes.nn import Linear4bit

    for layer in model.modules():
        if not isinstance(layer, Linear4bit):
            continue
        # Set even where a bitsandbytes release no longer reads it: tests/test_model_bnb_cpu.py forces the
        # AVX512-BF16 detection on and fails if a layer still gets repacked, so a renamed switch shows up there.
        setattr(layer, REPACK_FLAG, False)
