"""Correctness oracle: the project's DPO loss equals TRL's DPOTrainer loss on the same batch, on the tiny model.

Both start from the same "SFT" adapter; TRL keeps a frozen copy of it as its reference adapter, we precompute the
reference log-probabilities with it. Then both policies move away from the reference by the same perturbation, so
the loss is not the trivial log 2 of step 0, and the two losses and every LoRA weight gradient must agree.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from resources.training.config import TrainConfig

PROMPTS = [
    ([{"role": "user", "content": "Where is order A-1042?"}],
     "Order A-1042 was shipped two days ago.", "I do not know."),
    ([{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "What is 12 plus 30?"}],
     "42.", "The total is forty three, I think, but please check it yourself."),
    ([{"role": "user", "content": "Can I return the lamp?"}],
     "Yes, within 30 days with the receipt.", "No."),
    ([{"role": "user", "content": "Summarise: the candle arrived broken and the customer wants a refund."}],
     "Broken candle on arrival; refund requested.", "The customer likes candles."),
]


def _peft_model(model_dir, cfg, adapter_dir=None):
    import torch
    from peft import get_peft_model

    from resources.model.loading import load_causal_lm
    from resources.training.qlora_model import load_adapter_weights, lora_config

    model = get_peft_model(load_causal_lm(model_dir, device="cpu"), lora_config(cfg))
    if adapter_dir is None:  # an "SFT adapter" that differs from the base: lora_B is zero at init
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    else:
        load_adapter_weights(model, adapter_dir)
    return model


def _perturb(model) -> None:
    """The same step away from the reference in both policies (only the trained "default" adapter)."""
    import torch

    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if ".default." in name and "lora_" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.02)


def _lora_grads(model) -> dict:
    return {n.replace(".default.", "."): p.grad.clone() for n, p in model.named_parameters()
            if ".default." in n and p.grad is not None}


@pytest.mark.parametrize("loss_type,beta", [("sigmoid", 0.1), ("sigmoid", 0.5), ("ipo", 0.1)])
def test_project_dpo_loss_and_lora_gradients_equal_trl(tiny_model_dir, tmp_path, loss_type, beta):
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from resources.model.loading import load_tokenizer
    from resources.training.distributed import Dist
    from resources.training.dpo import DPOLossLM, disable_dropout
    from resources.training.pairs import PairStream, collate_pairs, tokenize_pair
    from resources.training.reference import compute_reference

    torch.manual_seed(0)
    cfg = TrainConfig(lora_r=4, lora_alpha=8, quantization="none")
    tokenizer = load_tokenizer(tiny_model_dir)
    sft = _peft_model(tiny_model_dir, cfg)
    sft.save_pretrained(str(tmp_path / "sft"))

    # --- TRL: DPOTrainer on the peft model; it copies the adapter into a frozen "ref" adapter -----------------
    trl_model = _peft_model(tiny_model_dir, cfg, tmp_path / "sft")
    rows = [{"prompt": p, "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]} for p, c, r in PROMPTS]
    args = DPOConfig(output_dir=str(tmp_path / "trl"), beta=beta, loss_type=[loss_type], report_to=[],
                     per_device_train_batch_size=len(rows), gradient_checkpointing=False, use_cpu=True,
                     bf16=False, max_length=None, disable_dropout=True, precompute_ref_log_probs=False)
    trainer = DPOTrainer(model=trl_model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    assert "ref" in trainer.model.peft_config  # the reference is the SFT adapter, frozen
    _perturb(trainer.model)
    examples = [trainer.train_dataset[i] for i in range(len(rows))]
    inputs = trainer.data_collator(examples)
    trainer.model.train()
    trl_loss = trainer.compute_loss(trainer.model, inputs)
    trl_loss.backward()

    # --- ours: tokenise, precompute the reference with the SFT adapter, perturb, loss -------------------------
    ours = _peft_model(tiny_model_dir, cfg, tmp_path / "sft")
    disable_dropout(ours)
    pairs = [tokenize_pair(tokenizer, p, c, r, max_seq_len=512) for p, c, r in PROMPTS]
    for pair, ex in zip(pairs, examples):  # TRL's tokenisation, token for token
        assert (pair.prompt_ids, pair.chosen_ids, pair.rejected_ids) == (
            ex["prompt_ids"], ex["chosen_ids"], ex["rejected_ids"])
    stream = PairStream(pairs, micro_batch_size=len(pairs), seed=0, pad_id=tokenizer.pad_token_id)
    ref = compute_reference(ours, stream, device="cpu", autocast=contextlib.nullcontext(), dist=Dist(),
                            batch_size=2)
    _perturb(ours)
    ours.train()
    out = DPOLossLM(ours, beta=beta, loss=loss_type)(**collate_pairs(pairs, tokenizer.pad_token_id, ref))
    out.loss.backward()

    print(f"{loss_type} beta={beta}: ours {out.loss.item():.8f} TRL {trl_loss.item():.8f}")
    assert abs(out.loss.item() - trl_loss.item()) < 1e-5, (out.loss.item(), trl_loss.item())
    if loss_type == "sigmoid":
        assert abs(out.loss.item() - 0.6931) > 1e-3  # the policy really differs from the reference
    trl_grads, our_grads = _lora_grads(trainer.model), _lora_grads(ours)
    assert set(trl_grads) == set(our_grads) and len(our_grads) > 0
    worst = max(((g - trl_grads[n]).norm() / trl_grads[n].norm()).item() for n, g in our_grads.items())
    print(f"largest relative gradient difference over {len(our_grads)} LoRA tensors: {worst:.2e}")
    for name, g in our_grads.items():
        # fp32 sums in another order (TRL's attention mask and fused head vs ours): agree to 1e-4 of the norm
        assert (g - trl_grads[name]).norm() <= 1e-4 * trl_grads[name].norm() + 1e-9, name
    assert max(g.abs().max().item() for g in our_grads.values()) > 1e-6  # gradients that say something
    json.dumps(ref)  # the stored reference is plain JSON
