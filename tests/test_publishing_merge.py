"""Merge: the published folder is standalone and behaves exactly like base+adapter; unsafe adapters are refused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from resources.model.loading import UnsafeWeightsError, check_weight_files
from resources.publishing.merge import MergeVerificationError, merge_adapter
from resources.publishing.smoke import smoke_inference

PROMPTS = ["Where is my order A-1234?", [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "What is the refund policy?"}]]


def make_base_and_adapter(root: Path) -> tuple[Path, Path]:
    """The tiny base, and a LoRA adapter (r=8, all linear layers) whose B weights are non-zero so it matters."""
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm
    from resources.model.tiny import build_tiny_model

    base = build_tiny_model(root / "base")
    model = get_peft_model(load_causal_lm(base, dtype=torch.float32, device="cpu"),
                           LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    adapter = root / "checkpoint-5"
    model.save_pretrained(adapter)
    # Trainer state next to the adapter, as a training checkpoint has it: never copied, never loaded.
    (adapter / "trainer_state.json").write_text("{}")
    (adapter / "optimizer.pt").write_bytes(b"not really a pickle")
    return base, adapter


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    base, adapter = make_base_and_adapter(root)
    # A 2 MB shard limit splits the ~5 MB fp32 tiny model, exercising the sharded layout real models get.
    result = merge_adapter(base, adapter, root / "merged", dtype="float32", max_shard_size="2MB",
                           sample_prompts=PROMPTS, tolerance=1e-4, max_new_tokens=12)
    return base, adapter, root / "merged", result


def test_merge_is_verified_and_complete(merged):
    base, adapter, out, result = merged
    assert result.verified and result.logits_ok and result.loads_without_peft and result.generations_match
    assert result.max_abs_diff < 1e-4 and result.tolerance == 1e-4
    assert len(result.weight_files) > 1 and (out / "model.safetensors.index.json").exists()
    for name in ("config.json", "generation_config.json", "tokenizer.json", "chat_template.jinja", "LICENSE.txt",
                 "merge_verification.json"):
        assert (out / name).exists(), name
    record = json.loads((out / "merge_verification.json").read_text())
    assert record["verified"] is True and record["checks"] and all(record["checks"].values())
    # the record travels with the folder: it names folders relative to it, never the temporary one it was built in
    assert (record["out_dir"], record["adapter_dir"]) == ("merged", "merged/adapter")
    assert str(out.parent) not in (out / "merge_verification.json").read_text() and ".tmp" not in str(record)
    stats = record["statistics"]
    assert stats["merged"]["kl_mean"] < 1e-6 and stats["merged"]["top1_agreement"] == 1.0
    assert abs(stats["adapter_effect_recovered"] - 1) < 1e-3 and stats["adapter_removed"]["kl_mean"] > 1e-3
    assert sorted(p.name for p in (out / "adapter").iterdir()) == ["README.md", "adapter_config.json",
                                                                   "adapter_model.safetensors"]
    assert not list(out.parent.glob(".merged.*"))  # no temporaries left beside it


def test_merged_folder_reproduces_base_plus_adapter_in_a_process_without_peft(merged):
    import torch

    from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
    from resources.publishing.prompts import encode_prompt

    base, adapter, out, _ = merged
    tok = load_tokenizer(base)
    base_model = load_causal_lm(base, dtype=torch.float32, device="cpu").eval()
    ids = [encode_prompt(tok, p) for p in PROMPTS]
    with torch.no_grad():
        base_gen = [base_model.generate(input_ids=torch.tensor([i]), max_new_tokens=12, do_sample=False)[0, len(i):]
                    .tolist() for i in ids]
        base_logits = base_model(input_ids=torch.tensor([ids[0]])).logits[0]
        peft_model = load_adapter(base_model, out / "adapter").eval()
        expected = [peft_model.generate(input_ids=torch.tensor([i]), max_new_tokens=12, do_sample=False)[0, len(i):]
                    .tolist() for i in ids]
    child = (
        "import json, sys, torch\n"
        "from transformers import AutoModelForCausalLM\n"
        "m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)\n"
        "ids = json.loads(sys.argv[2])\n"
        "out = [m.generate(input_ids=torch.tensor([i]), max_new_tokens=12, do_sample=False)[0, len(i):].tolist()"
        " for i in ids]\n"
        "assert 'peft' not in sys.modules\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", child, str(out), json.dumps(ids)], capture_output=True, text=True,
                          timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected
    # The adapter really changes the model, so the agreement above is not trivial.
    with torch.no_grad():
        adapted_logits = peft_model(input_ids=torch.tensor([ids[0]])).logits[0]
    assert (adapted_logits - base_logits).abs().max() > 1e-2 or expected != base_gen


def test_a_merge_that_drops_the_adapter_fails_verification_and_publishes_nothing(tmp_path, merged, monkeypatch):
    from peft.tuners.lora import LoraModel

    base, adapter, _, _ = merged
    # Simulate a broken merge: the adapter is removed instead of folded into the weights.
    monkeypatch.setattr(LoraModel, "merge_and_unload", lambda self, *a, **k: self.unload())
    with pytest.raises(MergeVerificationError, match="0.00x the adapter's effect.*the adapter was dropped"):
        merge_adapter(base, adapter, tmp_path / "merged", sample_prompts=PROMPTS[:1], max_new_tokens=4)
    assert not list(tmp_path.iterdir())


def test_float32_stays_strict_about_what_bfloat16_rounding_would_be_allowed(tmp_path, merged, monkeypatch):
    import torch
    from peft.tuners.lora import LoraModel

    base, adapter, _, _ = merged
    original = LoraModel.merge_and_unload

    def merge_then_round(self, *args, **kwargs):
        model = original(self, *args, **kwargs)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).float())
        return model

    # A float32 merge that rounds like a bf16 one: behaviourally close, but not what float32 promises.
    monkeypatch.setattr(LoraModel, "merge_and_unload", merge_then_round)
    with pytest.raises(MergeVerificationError, match="max \\|logit diff\\| .* > tolerance 0.0001"):
        merge_adapter(base, adapter, tmp_path / "merged", sample_prompts=PROMPTS[:1], max_new_tokens=4)
    assert not list(tmp_path.iterdir())


def test_pickle_weights_in_adapter_are_refused(tmp_path, merged):
    import shutil

    import torch

    base, adapter, _, _ = merged
    bad = tmp_path / "adapter"
    shutil.copytree(adapter, bad)
    torch.save({"w": torch.zeros(2)}, bad / "pytorch_model.bin")
    with pytest.raises(UnsafeWeightsError, match="pytorch_model.bin"):
        check_weight_files(bad)
    with pytest.raises(UnsafeWeightsError, match="pytorch_model.bin"):
        merge_adapter(base, bad, tmp_path / "merged", sample_prompts=PROMPTS[:1])
    assert not (tmp_path / "merged").exists()


def test_smoke_inference_answers_and_times_both(merged):
    base, adapter, out, _ = merged
    report = smoke_inference(out, base, out / "adapter", PROMPTS, max_new_tokens=8, repeats=2)
    assert [a["equal"] for a in report["answers"]] == [True, True]
    assert report["all_answered"]
    lat = report["latency"]
    assert lat["merged_s"] > 0 and lat["base_plus_adapter_s"] > 0 and lat["tokens_per_run"] == 16


@pytest.mark.slow
def test_bfloat16_merge_is_judged_against_bfloat16_rounding(tmp_path, merged):
    base, adapter, _, _ = merged
    result = merge_adapter(base, adapter, tmp_path / "merged", dtype="bfloat16", sample_prompts=PROMPTS,
                           max_new_tokens=8, tolerance=1e-6)  # a float32 bound: not applied to a 16-bit merge
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"
    assert result.verified, result.error
    assert result.tolerance is None and "max_abs_diff_within_tolerance" not in result.checks
    # Rounding to bf16 shows, about as much as in base+adapter run in bf16, and far below the adapter's effect.
    stats = result.statistics
    assert 0 < stats["merged"]["kl_mean"] < stats["adapter_removed"]["kl_mean"] / 10
    assert stats["rounding_only"]["kl_mean"] > 0
