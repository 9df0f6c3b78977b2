"""The merge gate on a real model (SmolLM2-135M-Instruct): a correct bfloat16 merge publishes, though bf16 rounding
moves single logits by far more than any fixed tolerance would allow; merges that are wrong (base weights off,
adapter dropped, adapter applied at twice its scale) fail the gate's checks. One end-to-end merge (its fresh
process costs most of the time); the wrong merges are judged in this process, from the same statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.publishing.merge import merge_adapter

# Two prompts and short answers: 80-odd positions of 49152-way predictions, a few seconds of CPU per pass.
PROMPTS = ["Where is my order A-1234? It was due three days ago.",
           [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the refund policy?"}]]


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """On a shared CPU, several torch threads spin against each other: one thread (here and in the fresh process,
    through OMP_NUM_THREADS) took a tenth of the CPU time."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def adapter(smollm2_dir, tmp_path_factory) -> Path:
    """A LoRA adapter (r=8 on q_proj, v_proj) with seeded random A and B instead of training: it changes the
    model about as much as a short fine-tune does (mean KL to the base about 0.7 nats/token)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    torch.manual_seed(0)
    model = get_peft_model(load_causal_lm(smollm2_dir, dtype=torch.float32, device="cpu"),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                      init_lora_weights=False))
    out = tmp_path_factory.mktemp("smollm2-adapter") / "adapter"
    model.save_pretrained(out)
    return out


def test_a_correct_bfloat16_merge_is_verified_and_records_its_statistics(smollm2_dir, adapter, tmp_path):
    result = merge_adapter(smollm2_dir, adapter, tmp_path / "merged", dtype="bfloat16", sample_prompts=PROMPTS,
                           max_new_tokens=12)
    assert result.verified, result.error
    record = json.loads((tmp_path / "merged" / "merge_verification.json").read_text())
    stats = record["statistics"]
    assert record["verified"] and all(record["checks"].values()) and stats["positions"] > 60
    assert 0.8 < stats["adapter_effect_recovered"] < 1.25
    # bf16 costs the merged model about what it costs the unmerged adapter, and far less than the adapter's effect.
    merged, rounding, removed = stats["merged"], stats["rounding_only"], stats["adapter_removed"]
    assert 0 < merged["kl_mean"] <= 2 * rounding["kl_mean"] + 1e-4 < removed["kl_mean"] / 10
    assert merged["top1_agreement"] > 0.9 > removed["top1_agreement"]
    assert record["max_abs_diff"] == merged["max_abs_diff"] > 0.15  # what the old fixed-tolerance gate refused


def _perturb_base(model):
    """Merge correctly into base weights off by 2% noise: a different base, or a damaged one."""
    import torch

    merged = model.merge_and_unload()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in merged.parameters():
            if p.dim() == 2:
                p.add_(torch.randn(p.shape, generator=g) * p.std() * 0.02)
    return merged


def _scale_twice(model):
    """Merge the update at twice its scale, as merging it twice or reading lora_alpha/r wrong would."""
    for module in model.modules():
        if isinstance(getattr(module, "scaling", None), dict):
            module.scaling = {k: 2 * v for k, v in module.scaling.items()}
    return model.merge_and_unload()


MERGES = {
    "correct": (lambda model: model.merge_and_unload(), None),
    "base perturbed": (_perturb_base, "mean KL"),
    "adapter dropped": (lambda model: model.unload(), "adapter was dropped"),
    "adapter scaled x2": (_scale_twice, "merged twice or with the wrong scale"),
}


@pytest.fixture(scope="module")
def gate_inputs(smollm2_dir, adapter):
    """What the gate compares, computed in this process (the end-to-end test above covers the fresh process):
    fp32 base+adapter and base, bf16 base + unmerged adapter, and each way of merging stored and run in bf16."""
    import torch

    from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
    from resources.publishing.merge import _reference_outputs, _unmerged_logits

    def peft_model():
        return load_adapter(load_causal_lm(smollm2_dir, dtype=torch.float32, device="cpu"), adapter).eval()

    reference = _reference_outputs(peft_model(), load_tokenizer(smollm2_dir), PROMPTS, max_new_tokens=12)
    sequences = [r["sequence"] for r in reference]
    merged = {}
    for name, (merge, _) in MERGES.items():
        model = merge(peft_model()).to(torch.bfloat16)
        with torch.no_grad():
            merged[name] = [model(input_ids=torch.tensor([s])).logits[0].float() for s in sequences]
    rounded = _unmerged_logits(smollm2_dir, adapter, sequences, dtype="bfloat16", trust_remote_code=False,
                               allow_pickle=False)
    return [r["logits"] for r in reference], [r["base_logits"] for r in reference], rounded, merged


@pytest.mark.parametrize("merge", list(MERGES))
def test_the_gate_passes_only_the_correct_bfloat16_merge(gate_inputs, merge):
    from resources.publishing.merge_check import judge

    reference, base, rounded, merged = gate_inputs
    stats, checks, errors = judge(reference, base, rounded, merged[merge], dtype="bfloat16", tolerance=None)
    expected = MERGES[merge][1]
    if expected is None:
        assert all(checks.values()) and not errors, errors
    else:
        assert not all(checks.values()) and any(expected in e for e in errors), errors

