"""FlexAttention on a GPU computes what sdpa computes for packed rows, and keeps less for backward.

Skipped without CUDA (CI); on the device machine: ``python tests/test_training_flex_attention_cuda.py``.
"""

from __future__ import annotations

import torch

from tests.gpu_checks import cuda, run_on_tiny_model


def packed_batch(vocab: int, rows: int = 4, width: int = 256) -> dict:
    """Rows of several documents each, position ids restarting at every document (packing.py's layout)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (rows, width), generator=g)
    positions = []
    for _ in range(rows):
        row, left = [], width
        while left:
            n = min(left, int(torch.randint(16, 120, (1,), generator=g)))
            row += list(range(n))
            left -= n
        positions.append(row)
    return {"input_ids": ids.cuda(), "labels": ids.cuda(), "position_ids": torch.tensor(positions).cuda()}


def run(model_dir, flex: bool, packed: bool = True) -> dict:
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm
    from resources.training.activation_probe import probe
    from resources.training.flex_attention import IMPLEMENTATION

    base = load_causal_lm(model_dir, quantize_4bit=True, device="cuda")
    if flex:
        base.set_attn_implementation(IMPLEMENTATION)
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                            init_lora_weights=False)).train()
    batch = packed_batch(model.get_input_embeddings().num_embeddings)
    if not packed:  # one document per row: what the masks must prevent
        batch["position_ids"] = torch.arange(batch["input_ids"].shape[1], device="cuda").expand_as(
            batch["input_ids"])
    autocast = torch.autocast("cuda", dtype=torch.bfloat16)
    with autocast:
        loss = model(**batch, use_cache=False).loss
    loss.backward()
    grads = [p.grad.float() for n, p in model.named_parameters() if "lora_" in n]
    model.zero_grad(set_to_none=True)
    per_token = probe(model, model, batch, autocast, "cuda").per_token
    return {"loss": loss.item(), "grads": grads, "per_token": per_token}


def check_flex_matches_sdpa(model_dir) -> dict:
    sdpa, flex, unpacked = run(model_dir, False), run(model_dir, True), run(model_dir, False, packed=False)
    # the same up to bf16 rounding in different kernels, far closer than attending across documents would be
    off = abs(flex["loss"] - sdpa["loss"])
    assert off < 2e-3 * abs(sdpa["loss"]) and off < abs(unpacked["loss"] - sdpa["loss"]) / 10, (
        flex["loss"], sdpa["loss"], unpacked["loss"])
    f, s = (torch.cat([g.flatten() for g in run_["grads"]]) for run_ in (flex, sdpa))
    assert torch.nn.functional.cosine_similarity(f, s, dim=0) > 0.998
    assert (f - s).norm() <= 0.05 * s.norm(), ((f - s).norm().item(), s.norm().item())
    # sdpa with a mask repeats K and V to every query head and keeps the copies; flex keeps them as they are
    assert flex["per_token"] < sdpa["per_token"], (flex["per_token"], sdpa["per_token"])
    return {k: (flex[k], sdpa[k]) for k in ("loss", "per_token")}


@cuda
def test_flex_attention_matches_sdpa_on_packed_rows(tiny_model_dir):
    check_flex_matches_sdpa(tiny_model_dir)


if __name__ == "__main__":
    run_on_tiny_model("flex vs sdpa (flex, sdpa)", check_flex_matches_sdpa)
