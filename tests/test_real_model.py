"""The real SmolLM2-135M-Instruct, not the random tiny model: a few LoRA steps lower its held-out loss, and the
merged folder answers with plain transformers.

The data are Nordlicht Home policy answers (the sample shop's fixed policy sentences): the held-out questions
are other phrasings of the trained ones, so a lower loss on their reference answers means the model learnt the
policies, not the exact strings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from resources.training.config import TrainConfig

POLICIES = {
    "returns": ("Nordlicht Home accepts returns within 30 days of delivery; the return label is free.",
                ["How long do I have to return something?", "Can I still send back a lamp I got last week?",
                 "What is your return window?", "Is returning an order free of charge?"]),
    "shipping": ("Orders leave our Hamburg warehouse within 2 working days and arrive in 3 to 5 days.",
                 ["When will my order arrive?", "How fast do you ship?", "How many days does delivery take?",
                  "Where do you ship from and how long does it take?"]),
    "warranty": ("Every Nordlicht product has a 3-year warranty against manufacturing defects.",
                 ["Is there a warranty on your furniture?", "My chair broke after a year, is it covered?",
                  "How long is the guarantee?", "Do you cover defects?"]),
    "payment": ("We accept cards, PayPal and invoice; invoices are due within 14 days.",
                ["Which payment methods do you take?", "Can I pay by invoice?", "Do you accept PayPal?",
                 "How long do I have to pay an invoice?"]),
}
SYSTEM = "You are the customer support assistant of Nordlicht Home, a Scandinavian homeware shop."
CONFIG = dict(quantization="none", max_steps=8, save_every=8, micro_batch_size=4, max_seq_len=128,
              learning_rate=1e-3, warmup_steps=1, lora_r=8, lora_alpha=16, target_modules="q_proj,k_proj,v_proj,o_proj")


def _examples(split: str) -> list[dict]:
    from resources.schema import make_example

    rows = []
    for topic, (answer, questions) in POLICIES.items():
        chosen = questions[:3] if split == "train" else questions[3:]
        for i, q in enumerate(chosen):
            rows.append(make_example(source="reviewed_interactions", drop=split, row=len(rows) + 1, task="policy_qa",
                                     messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q},
                                               {"role": "assistant", "content": answer}]))
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    from resources.schema import EXAMPLE_COLUMNS
    from resources.storage import write_parquet

    return write_parquet(path, pd.DataFrame(rows * 2, columns=list(EXAMPLE_COLUMNS)))


def _held_out_loss(model, tokenizer, examples) -> float:
    from resources.evaluation.heldout_loss import reference_nll

    nll = reference_nll(model, tokenizer, examples)
    return sum(s for s, _ in nll) / sum(n for _, n in nll)


@pytest.mark.slow
def test_a_few_lora_steps_on_smollm2_lower_held_out_loss_and_the_merge_answers(smollm2_dir, tmp_path):
    import torch

    from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
    from resources.publishing.merge import merge_adapter
    from resources.training.loop import train
    from resources.training.reporting import Reporter

    torch.set_num_threads(2)
    held_out = _examples("held_out")
    result = train(TrainConfig(**CONFIG), smollm2_dir, _write(tmp_path / "train.parquet", _examples("train")),
                   tmp_path / "out", Reporter())
    checkpoint = Path(result["final_checkpoint"])

    tokenizer = load_tokenizer(smollm2_dir)
    base = load_causal_lm(smollm2_dir, dtype=torch.float32, device="cpu").eval()
    before = _held_out_loss(base, tokenizer, held_out)
    after = _held_out_loss(load_adapter(base, checkpoint).eval(), tokenizer, held_out)
    assert after < 0.8 * before, (before, after)

    merged = tmp_path / "merged"
    verification = merge_adapter(smollm2_dir, checkpoint, merged, dtype="float32")
    assert verification.verified
    code = ("import sys, transformers\n"
            f"m = transformers.AutoModelForCausalLM.from_pretrained({str(merged)!r})\n"
            f"t = transformers.AutoTokenizer.from_pretrained({str(merged)!r})\n"
            f"msgs = [{{'role': 'system', 'content': {SYSTEM!r}}}, {{'role': 'user', 'content': 'How long is the warranty?'}}]\n"
            "ids = t.apply_chat_template(msgs, add_generation_prompt=True, return_tensors='pt', return_dict=True)\n"
            "out = m.generate(**ids, max_new_tokens=24, do_sample=False)\n"
            "assert 'peft' not in sys.modules\n"
            "print(t.decode(out[0, ids['input_ids'].shape[1]:], skip_special_tokens=True))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "warranty" in run.stdout.lower() or "3-year" in run.stdout, run.stdout
