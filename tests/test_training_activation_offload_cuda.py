"""activation_offload.py on a GPU: the copies on their own streams bring back exactly what was saved.

Skipped without CUDA (CI); on the device machine: ``python tests/test_training_activation_offload_cuda.py``.
"""

from __future__ import annotations

import torch

from tests.gpu_checks import cuda, run_on_tiny_model


def check_offload_is_exact(model_dir) -> dict:
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm
    from resources.training.activation_plan import ActivationPlan, apply, decoder_layers
    from resources.training.lean_lora import install_lean_lora

    base = load_causal_lm(model_dir, quantize_4bit=True, device="cuda")
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="all-linear",
                                            init_lora_weights=False)).train()
    install_lean_lora(model)
    ids = torch.randint(0, model.get_input_embeddings().num_embeddings, (4, 256), device="cuda")

    def step():
        torch.manual_seed(1)
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        return [loss.detach()] + [p.grad.clone() for n, p in model.named_parameters() if "lora_" in n]

    want = step()
    layers = decoder_layers(model)
    plan = ActivationPlan(layers=len(layers), kept=0, split=1, budget_bytes=1e12, bytes_per_token=1.0,
                          input_bytes_per_token=1.0, tokens=ids.numel(), offloaded=len(layers))
    offload = apply(plan, model, "cuda")
    offload.min_bytes = 0
    got = [step() for _ in range(2)][-1]  # the second step reuses cached pinned memory
    torch.cuda.synchronize()
    offload._drain(wait=True)  # the last layers' copies are released at the next forward's start
    assert offload.bytes_out > 0, offload.bytes_out
    assert not offload._pending, (len(offload._pending), offload._current, [s.layer for s in offload._pending][:5])
    assert all(s.uses == 0 and s.gpu is None for ss in offload.saved.values() for s in ss)
    for g, w in zip(got, want):
        assert torch.equal(g, w)
    return {"bytes_out": offload.bytes_out, "loss": float(got[0])}


@cuda
def test_offload_on_the_gpu_is_exact(tiny_model_dir):
    check_offload_is_exact(tiny_model_dir)


if __name__ == "__main__":
    run_on_tiny_model("offload on cuda exact", check_offload_is_exact)
