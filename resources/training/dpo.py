"""The DPO objective: log-probabilities of completions, and the preference loss (sigmoid DPO or IPO).

DPO (Rafailov et al. 2023) trains the policy pi to prefer the chosen answer y_w over the rejected y_l by more than
a frozen reference pi_ref does: loss = -log sigmoid(beta * ((log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) -
log pi_ref(y_l)))), with log pi(y) the sum of the log-probabilities of the completion tokens. IPO (Azar et al.
2023) regresses the per-token averaged margin onto 1/(2 beta) instead, as TRL does. beta * (log pi - log pi_ref)
is each answer's implicit reward; their difference is the reward margin, and the share of pairs with a positive
margin the preference accuracy.

Here the reference is the SFT adapter the policy starts from; its log-probabilities are computed once before
training (reference.py) and arrive in every batch, so no second model or adapter is kept in memory.

The log-probabilities are computed like fused_loss.py computes the SFT loss: the output head runs only on
completion positions, in checkpointed chunks, so the [tokens x vocab] logits never exist at once. Imported only by
the training process and tests, so torch is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from transformers.utils import ModelOutput

from resources.training.fused_loss import LOSS_CHUNK_TOKENS
from resources.training.speed import FUSED_LOSS_MODEL_TYPES

LOSSES = ("sigmoid", "ipo")


def _chunk_logps(hidden: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module) -> torch.Tensor:
    return -F.cross_entropy(head(hidden).float(), targets, reduction="none")


def sequence_logps(model: torch.nn.Module, input_ids: torch.Tensor, completion_mask: torch.Tensor,
                   chunk_tokens: int = LOSS_CHUNK_TOKENS) -> torch.Tensor:
    """Sum of log p(token | tokens before it) over each row's completion tokens: a [rows] float32 tensor.

    ``model`` is the (peft) causal LM; rows are right-padded, and padding is never in ``completion_mask``."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    keep = completion_mask[:, 1:].bool()
    targets = input_ids[:, 1:][keep]
    row_of = torch.arange(input_ids.shape[0], device=input_ids.device).unsqueeze(1).expand_as(keep)[keep]
    if getattr(causal_lm.config, "model_type", "") in FUSED_LOSS_MODEL_TYPES:
        decoder = getattr(causal_lm, causal_lm.base_model_prefix)
        head = causal_lm.get_output_embeddings()
        hidden = decoder(input_ids=input_ids, use_cache=False)[0][:, :-1][keep]
        parts = []
        for s in range(0, targets.numel(), chunk_tokens):
            args = (hidden[s:s + chunk_tokens], targets[s:s + chunk_tokens], head)
            parts.append(checkpoint(_chunk_logps, *args, use_reentrant=False) if torch.is_grad_enabled()
                         else _chunk_logps(*args))
        token_logps = torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)
    else:  # heads with soft-capping or scaling: the model's own logits, whatever its forward does to them
        logits = model(input_ids=input_ids, use_cache=False).logits[:, :-1][keep]
        token_logps = -F.cross_entropy(logits.float(), targets, reduction="none")
    out = torch.zeros(input_ids.shape[0], dtype=torch.float32, device=input_ids.device)
    return out.index_add(0, row_of, token_logps)


def preference_loss(policy: torch.Tensor, reference: torch.Tensor, completion_tokens: torch.Tensor, beta: float,
                    loss: str = "sigmoid") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-pair loss, chosen rewards, rejected rewards) for [chosen..., rejected...] log-probability rows."""
    chosen, rejected = policy.chunk(2)
    ref_chosen, ref_rejected = reference.chunk(2)
    chosen_ratio, rejected_ratio = chosen - ref_chosen, rejected - ref_rejected
    if loss == "sigmoid":
        per_pair = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio))
    elif loss == "ipo":
        n_chosen, n_rejected = completion_tokens.to(policy.dtype).chunk(2)
        margin = chosen_ratio / n_chosen.clamp(min=1.0) - rejected_ratio / n_rejected.clamp(min=1.0)
        per_pair = (margin - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"dpo_loss {loss!r} is unknown; choose one of {list(LOSSES)}")
    return per_pair, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


@dataclass
class PreferenceOutput(ModelOutput):
    loss: torch.Tensor | None = None
    margin_sum: torch.Tensor | None = None  # sum over this micro-batch's pairs of chosen minus rejected reward
    correct: torch.Tensor | None = None  # pairs whose chosen reward is above the rejected one


class DPOLossLM(torch.nn.Module):
    """Wraps the peft model; ``forward(**batch)`` returns the DPO loss of the micro-batch, divided by the pairs of
    the whole optimiser step (``num_items_in_batch``), so every pair weighs the same however batches were split.

    DistributedDataParallel wraps this module instead of the model, so gradient sync sees the whole forward."""

    def __init__(self, model: torch.nn.Module, beta: float, loss: str = "sigmoid"):
        super().__init__()
        self.model, self.beta, self.loss_kind = model, beta, loss

    def forward(self, input_ids, completion_mask, ref_logps, num_items_in_batch=None, use_cache=False, **_):
        policy = sequence_logps(self.model, input_ids, completion_mask)
        tokens = completion_mask.sum(dim=1)
        per_pair, chosen, rejected = preference_loss(policy, ref_logps.to(policy.device), tokens, self.beta,
                                                     self.loss_kind)
        denominator = num_items_in_batch if num_items_in_batch is not None else per_pair.numel()
        return PreferenceOutput(loss=per_pair.sum() / denominator, margin_sum=(chosen - rejected).sum(),
                                correct=(chosen > rejected).sum())


def disable_dropout(model: torch.nn.Module) -> None:
    """Policy and reference must be the same function at step 0 (TRL does this too): no dropout masks."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
