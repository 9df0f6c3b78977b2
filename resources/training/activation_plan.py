"""Which decoder layers recompute their activations in backward, and in how many pieces a micro-batch runs, so
that what autograd saves fits a memory budget at the least recomputation.

Gradient checkpointing keeps only each layer's input and runs the layer's forward a second time in backward:
on a frozen 4-bit 8B base that costs 30 % of the speed (8.3k tokens/s against 11.7k without it, one H200).
Without it a layer keeps everything its backward needs: 1.74 GiB per layer for 8,192 tokens on Llama-3-8B
(1.19 GiB with lean_lora.py), 56 GiB for the whole model. Between the two:

* keep the activations of ``k`` layers (the last ones) and checkpoint the others, and
* run a micro-batch's rows in ``split`` pieces, one forward and backward each, gradients accumulating; the loss
  is normalised by the whole optimiser step's target tokens, so the gradient is the same sum;
* on a GPU, let the first ``offloaded`` layers keep theirs in pinned host memory (activation_offload.py), as many
  as the copies can leave during the forward, by the speeds measured at start.

Activation memory grows with the tokens of a piece and with ``k``; time grows with the recomputed layers and
with the number of pieces (each piece launches every kernel of a forward and backward once more: on an 8B model
that costs more than recomputing). ``choose`` takes the cheapest plan that fits.

The memory per kept layer is measured, not modelled: ``probe`` (activation_probe.py) runs one forward of the
first micro-batch, the second layer whole (the first one's input needs no gradient, so it keeps less than the
others), and counts the bytes autograd saves inside that layer.
``activation_memory`` (TrainConfig) is the budget in GiB, or ``auto``: what the GPU has free after that forward,
less a reserve for gradients, optimiser state and the allocator's slack; or ``off``: every layer checkpointed,
whole micro-batches (the classic recipe). On CPU ``auto`` is ``off``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 2 ** 30
RECOMPUTE_SHARE = 0.46  # a layer's forward over its forward + backward (8B measurement: 1/7,862 vs 1/11,511 s/token)
# What one more piece costs, in tokens' worth of work: each piece launches every kernel of a forward and backward
# again, and the host is slower at that than the GPU at 2,048 tokens (8B on an H200: 4 pieces of 8,192 tokens cost
# 0.69 s more than 1, about 2,400 tokens' worth each).
PIECE_OVERHEAD_TOKENS = 2048
# lean_lora.py's extra time per token over peft's path (8B on an H200: 8,196 vs 8,269 tokens/s checkpointed,
# 11,486 vs 11,622 without)
LEAN_LORA_COST = 0.02
AUTO_RESERVE_SHARE = 0.10  # auto leaves this share of the GPU free besides gradients and optimiser state
# An offloaded layer's bookkeeping (a Python hook per saved tensor, events, the copy kernels' share of memory
# bandwidth), as a share of recomputing it; keeps a layer on the GPU rather than offloaded where both fit.
OFFLOAD_COST = 0.1


@dataclass(frozen=True)
class ActivationPlan:
    layers: int  # decoder layers
    kept: int  # the last ``kept`` layers keep their activations; the others are checkpointed
    split: int  # pieces per micro-batch
    budget_bytes: float
    bytes_per_token: float  # saved by one kept layer, per token position
    input_bytes_per_token: float  # saved by one checkpointed layer (its input), per token position
    tokens: int  # token positions per micro-batch
    offloaded: int = 0  # the first ``offloaded`` layers keep theirs in host memory (activation_offload.py)

    def activation_bytes(self) -> float:
        return predicted_bytes(self.kept, self.layers, self.tokens // self.split, self.bytes_per_token,
                               self.input_bytes_per_token, self.offloaded)

    def relative_cost(self, per_token_extra: float = 0.0) -> float:
        """``plan_cost``, with the per-token work ``per_token_extra`` dearer (lean_lora's cost)."""
        return plan_cost(self.kept, self.layers, self.split, self.tokens, per_token_extra, self.offloaded)

    @property
    def recomputed(self) -> int:
        return self.layers - self.kept - self.offloaded

    @property
    def fetch_depth(self) -> int:
        """Offloaded layers fetched back ahead of backward: as many as the kept layers freed (at least 2)."""
        return max(2, self.kept)

    def summary(self) -> str:
        offload = f"{self.offloaded} offload theirs to host memory, " if self.offloaded else ""
        return (f"activation plan: {self.kept} of {self.layers} layers keep their activations, {offload}"
                f"{self.recomputed} recompute; micro-batches in {self.split} piece(s); "
                f"{self.activation_bytes() / GIB:.2f} GiB of activations predicted in a budget of "
                f"{self.budget_bytes / GIB:.2f} GiB ({self.bytes_per_token / 1024:.1f} KiB per token per kept layer)")


def predicted_bytes(kept: int, layers: int, tokens: int, per_token: float, input_per_token: float,
                    offloaded: int = 0) -> float:
    """Saved activations of one piece: kept layers in full, checkpointed ones their input, plus the one layer
    being recomputed in backward. Offloaded layers hold GPU memory only while their copies are in flight (which
    ``offload_fits`` keeps apart from the kept layers' forward) and while fetched back ahead of backward
    (``fetch_depth`` layers, after the kept ones have freed theirs)."""
    recomputing = 1 if kept + offloaded < layers else 0
    on_gpu = max(kept, 2) if offloaded else kept
    return tokens * (on_gpu * per_token + (layers - kept - offloaded) * input_per_token + recomputing * per_token)


def plan_cost(kept: int, layers: int, split: int, tokens: int, per_token_extra: float = 0.0,
              offloaded: int = 0) -> float:
    """Time of one micro-batch, in tokens' worth of un-checkpointed work."""
    recompute = RECOMPUTE_SHARE * (layers - kept - offloaded * (1 - OFFLOAD_COST)) / layers
    return tokens * (1 + recompute) * (1 + per_token_extra) + split * PIECE_OVERHEAD_TOKENS


def offload_fits(offloaded: int, kept: int, layers: int, copy_ratio: float | None) -> bool:
    """The offloaded layers' copies end before the kept layers' forward begins, the copies running one after the
    other from the end of the first layer's forward; ``copy_ratio`` is a layer's copy time over its forward time
    (None: no offloading)."""
    if not offloaded:
        return True
    return copy_ratio is not None and offloaded * copy_ratio <= layers - kept - 1


def choose(budget_bytes: float, *, layers: int, rows: int, row_tokens: int, bytes_per_token: float,
           input_bytes_per_token: float, can_split: bool = True, copy_ratio: float | None = None,
           host_bytes: float = 0.0) -> ActivationPlan:
    """The cheapest (kept, offloaded, split) whose activations fit ``budget_bytes`` (and whose offloaded layers
    fit ``host_bytes`` and ``offload_fits``); every layer checkpointed and the micro-batch in single rows when
    nothing fits."""
    tokens = rows * row_tokens
    splits = [s for s in range(1, rows + 1) if rows % s == 0] if can_split else [1]
    best = None
    for split in splits:
        piece = tokens // split
        for kept in range(layers, -1, -1):
            for offloaded in range(layers - kept, -1, -1):
                if (offloaded * piece * bytes_per_token <= host_bytes
                        and offload_fits(offloaded, kept, layers, copy_ratio)
                        and predicted_bytes(kept, layers, piece, bytes_per_token, input_bytes_per_token,
                                            offloaded) <= budget_bytes):
                    cost = plan_cost(kept, layers, split, tokens, 0.0, offloaded)
                    if best is None or cost < best[0]:
                        best = (cost, kept, offloaded, split)
                    break
    _, kept, offloaded, split = best or (None, 0, 0, splits[-1])
    return ActivationPlan(layers=layers, kept=kept, split=split, budget_bytes=budget_bytes,
                          bytes_per_token=bytes_per_token, input_bytes_per_token=input_bytes_per_token,
                          tokens=tokens, offloaded=offloaded)


def parse_budget(value) -> float | str:
    """``activation_memory`` in bytes, or ``"auto"`` / ``"off"``. Raises ValueError for anything else."""
    if isinstance(value, str) and value.strip().lower() in ("auto", "off"):
        return value.strip().lower()
    gib = float(value)
    if not gib > 0 or math.isinf(gib):
        raise ValueError(f"activation_memory is {value!r}: use auto, off or a positive number of GiB")
    return gib * GIB


# --- applying it to a model -------------------------------------------------------------------------------------
def decoder_layers(model) -> list:
    """The model's checkpointable decoder layers, in order (transformers' GradientCheckpointingLayer)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


def apply(plan: ActivationPlan, model, device: str = "cpu", log=None):
    """Set each layer's checkpointing; with offloaded layers, install and return their ActivationOffload."""
    layers = decoder_layers(model)
    for i, layer in enumerate(layers):
        layer.gradient_checkpointing = plan.offloaded <= i < len(layers) - plan.kept
    if not plan.offloaded:
        return None
    from resources.training.activation_offload import ActivationOffload

    piece_layer_bytes = plan.tokens // plan.split * plan.bytes_per_token
    offload = ActivationOffload(layers[:plan.offloaded], device, depth=plan.fetch_depth,
                                in_flight_cap=max(plan.kept, 2) * piece_layer_bytes, log=log)
    offload.install(layers)
    return offload


def pieces(batch: dict, split: int) -> list[dict]:
    """The micro-batch's rows in ``split`` slices as equal as they come (fewer when it has fewer rows)."""
    rows = next(iter(batch.values())).shape[0]
    if split <= 1 or rows <= 1:
        return [batch]
    n = min(split, rows)
    bounds = [rows * i // n for i in range(n + 1)]
    return [{k: v[lo:hi] for k, v in batch.items()} for lo, hi in zip(bounds, bounds[1:])]


def make_plan(cfg, model, net, first_batch, autocast, device: str, dist, log) -> ActivationPlan | None:
    """The plan for this run, applied to ``model``; None where every layer stays as gradient_checkpointing says
    (off, CPU under auto, or a model without transformers' checkpointable layers). ``first_batch()`` gives the
    run's first micro-batch, which the probe measures on.

    Under ``lean_lora: auto`` the plan also decides LoRA's path: peft's is faster, lean_lora.py's saves less; the
    lean one is taken only when the layers it lets keep their activations win back more than it costs."""
    import torch

    from resources.training.activation_probe import copy_seconds_per_byte, host_bytes_free, probe
    from resources.training.distributed import agreed
    from resources.training.lean_lora import install_lean_lora, uninstall_lean_lora

    budget = parse_budget(cfg.activation_memory)
    automatic, layers = budget == "auto", decoder_layers(model)
    if (not cfg.gradient_checkpointing or not layers or budget == "off"
            or (automatic and not device.startswith("cuda"))):
        return None
    batch = {k: v.to(device) for k, v in first_batch().items()}
    per_token, free, seconds = probe(net, model, batch, autocast, device)
    if automatic:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = torch.cuda.get_device_properties(device).total_memory
        budget = free - 12 * trainable - AUTO_RESERVE_SHARE * total  # grads, optimiser state, allocator slack
    # every rank runs the same plan: the smallest budget and the largest measurement decide
    budget, per_token = agreed(dist, budget, device, "min"), agreed(dist, per_token, device, "max")
    embed = model.get_input_embeddings().weight
    # ranks' first micro-batches can differ in rows (an epoch's last one is short): all must plan the same, or one
    # rank's lean_lora probe below waits in a collective that the others never call
    rows, width = (int(agreed(dist, n, device, "max")) for n in batch["input_ids"].shape)
    shape = dict(budget_bytes=max(budget, 0.0), layers=len(layers), rows=rows,
                 row_tokens=max(width, cfg.max_seq_len),  # the widest a batch can be
                 input_bytes_per_token=embed.shape[-1] * embed.element_size(),
                 # DPO's chosen and rejected rows stay together; auto never plans slower than the classic recipe,
                 # which fitted before it existed, and pieces cost more than they save unless memory forces them
                 can_split=cfg.objective == "sft" and not automatic)
    ratio = None  # a layer's copy to host over its forward, from this GPU's measured speeds
    if cfg.activation_offload == "auto" and seconds is not None:
        per_byte = agreed(dist, copy_seconds_per_byte(device), device, "max")
        shape["host_bytes"] = agreed(dist, host_bytes_free(dist.world_size), device, "min")
        tokens = batch["input_ids"].numel()
        ratio = lambda per_token, seconds: agreed(dist, per_token * tokens * per_byte / seconds, device, "max")
    plan = choose(bytes_per_token=per_token, copy_ratio=ratio(per_token, seconds) if ratio else None, **shape)
    if cfg.lean_lora == "auto" and (plan.kept < plan.layers or plan.split > 1):
        install_lean_lora(model)
        lean_per_token, _, lean_seconds = probe(net, model, batch, autocast, device)
        lean_per_token = agreed(dist, lean_per_token, device, "max")
        lean = choose(bytes_per_token=lean_per_token, copy_ratio=ratio(lean_per_token, lean_seconds) if ratio
                      else None, **shape)
        if lean.relative_cost(LEAN_LORA_COST) < plan.relative_cost():
            plan, seconds = lean, lean_seconds
        else:
            uninstall_lean_lora(model)
    apply(plan, model, device, log)
    copies = (f"; a layer's copy to host takes {ratio(plan.bytes_per_token, seconds):.2f}x its forward"
              if ratio else "")
    log(plan.summary() + copies)
    return plan

