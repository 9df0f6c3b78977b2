"""The training loss on answer tokens only, in chunks: the [tokens x vocab] logits never exist at once.

A Llama-3 vocabulary has 128k entries. The stock forward computes logits for every position of the micro-batch
and then an fp32 copy for the loss: for a 16k-token micro-batch that is 16k x 128k x 6 bytes = 12 GiB, more
than the whole 4-bit 8B model. Here the decoder's last hidden states are gathered at the positions that have a
label (prompt tokens are masked anyway, so their logits are wasted work), and the output head plus
cross-entropy run on ``chunk_tokens`` of them at a time under activation checkpointing: the forward keeps one
fp32 number per chunk, the backward recomputes one chunk's logits at a time. The price is one more output-head
matmul on the target tokens (about 2% of an 8B step).

Same value as the model's own loss (sum of token cross-entropies / ``num_items_in_batch``), for any output
head module, LoRA-wrapped or tied. Imported only by the training loop, so torch is imported at module level.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from resources.training.chat_tokens import IGNORE

# 512 x 128k vocab: ~0.75 GiB of transient logits and gradients at the loss's backward, which is where an 8B
# run with offloaded activations peaks (1,024 cost 0.75 GiB more there); the matmuls are still large
LOSS_CHUNK_TOKENS = 512


def _chunk_loss(hidden: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module) -> torch.Tensor:
    logits = head(hidden)
    return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")


class ChunkedLossLM(torch.nn.Module):
    """Wraps the (peft) causal LM; ``forward(**batch)`` returns an object with ``.loss`` like the model does.

    DistributedDataParallel wraps this module instead of the model, so gradient sync sees the whole forward.
    """

    def __init__(self, model: torch.nn.Module, chunk_tokens: int = LOSS_CHUNK_TOKENS):
        super().__init__()
        self.model = model
        self.chunk_tokens = chunk_tokens

    def forward(self, input_ids, labels, position_ids=None, attention_mask=None, num_items_in_batch=None,
                use_cache=False, **_):
        from transformers.modeling_outputs import CausalLMOutput

        causal_lm = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        decoder = getattr(causal_lm, causal_lm.base_model_prefix)
        head = causal_lm.get_output_embeddings()
        out = decoder(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                      use_cache=False)
        hidden = out[0]
        shifted = labels[:, 1:]
        keep = shifted != IGNORE
        h, y = hidden[:, :-1][keep], shifted[keep]
        total = hidden.new_zeros((), dtype=torch.float32) + hidden[:, :1, :1].sum() * 0  # keeps the graph if empty
        for s in range(0, y.numel(), self.chunk_tokens):
            total = total + checkpoint(_chunk_loss, h[s:s + self.chunk_tokens], y[s:s + self.chunk_tokens], head,
                                       use_reentrant=False)
        denominator = num_items_in_batch if num_items_in_batch is not None else max(y.numel(), 1)
        return CausalLMOutput(loss=total / denominator)
