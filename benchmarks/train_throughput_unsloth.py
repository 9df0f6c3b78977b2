"""The third side of benchmarks/train_throughput.py: Unsloth, the trainer users would otherwise pick.

Same random-weight base folder, same synthetic chats (token ids, prompt tokens masked), same LoRA (r 16, alpha 32,
dropout as the other sides unless ``--unsloth-dropout``) on all seven linear projections, same learning rate and
8-bit paged AdamW as the stock recipe, 4-bit NF4 base. Unsloth's own recipe otherwise: ``FastLanguageModel`` with
``use_gradient_checkpointing="unsloth"`` and TRL's ``SFTTrainer`` (which Unsloth patches) with packing into rows of
``--row-tokens`` and padding-free batches of ``--micro-batch-tokens // --row-tokens`` rows, the loss on
completion tokens only (``completion_mask``). Imported only in the Unsloth child process: Unsloth patches
transformers, peft and TRL at import, so it must come first and must not leak into the other sides.
"""

from __future__ import annotations

import time
from pathlib import Path


def run_unsloth(args, base: Path, out: Path, *, lora: dict, docs, clock, facts: dict, peak_gib, log) -> dict:
    import unsloth  # noqa: F401  (first: it patches what follows)
    from unsloth import FastLanguageModel

    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from resources.training.chat_tokens import IGNORE

    dropout = lora["lora_dropout"] if args.unsloth_dropout is None else args.unsloth_dropout
    torch.cuda.reset_peak_memory_stats()
    t_load = time.time()
    model, tokenizer = FastLanguageModel.from_pretrained(str(base), max_seq_length=args.row_tokens,
                                                         dtype=torch.bfloat16, load_in_4bit=True)
    model = FastLanguageModel.get_peft_model(
        model, r=lora["r"], lora_alpha=lora["lora_alpha"], lora_dropout=dropout, bias="none",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        use_gradient_checkpointing="unsloth", random_state=args.seed)
    log(f"unsloth: model ready in {time.time() - t_load:.0f}s")

    dataset = Dataset.from_dict({"input_ids": [d.input_ids for d in docs],
                                 "completion_mask": [[int(x != IGNORE) for x in d.labels] for d in docs]})
    pending, micro = [0], [0]

    class Counting(SFTTrainer):
        def training_step(self, model, inputs, *a, **kw):
            mask = inputs.get("attention_mask")  # padding-free batches carry none: every position is a token
            pending[0] += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            micro[0] += 1
            return super().training_step(model, inputs, *a, **kw)

    class Clock(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            clock.mark(pending[0])
            pending[0] = 0

    config = SFTConfig(output_dir=str(out / "unsloth"), per_device_train_batch_size=max(
                           1, args.micro_batch_tokens // args.row_tokens), gradient_accumulation_steps=1,
                       max_steps=args.warmup + args.steps, learning_rate=2e-4, optim="paged_adamw_8bit",
                       bf16=True, max_length=args.row_tokens, packing=True, padding_free=True,
                       completion_only_loss=True, logging_steps=10 ** 6, save_strategy="no", report_to="none",
                       disable_tqdm=True, dataloader_num_workers=0, dataset_num_proc=1, seed=args.seed)
    trainer = Counting(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                       callbacks=[Clock()])
    clock.start = time.perf_counter()
    result = trainer.train()
    tps, tokens, secs = clock.rate(args.warmup)
    return {"side": "unsloth", "tokens_per_s": tps, "timed_tokens": tokens, "timed_s": secs,
            "micro_batches": micro[0], "steps": len(clock.marks), "lora_dropout": dropout,
            "peak_gib": peak_gib(), "train_loss": result.training_loss, "n_params": facts["n_params"],
            "unsloth": getattr(unsloth, "__version__", None)}
