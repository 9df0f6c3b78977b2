"""Benchmark: this project's DPO step against TRL's DPOTrainer QLoRA recipe, same base, adapter and pairs.

    python benchmarks/dpo_throughput.py --shape 8b|1b|tiny --steps N [--warmup 2] [--pairs-per-step 8]

Base model: the random-weight Llama of benchmarks/train_throughput.py (8b = Llama-3.1-8B's shape, tiny = the
project's ``builtin:tiny`` for a CPU smoke run), loaded by both sides in 4-bit NF4 with double quantisation. The
"SFT adapter" both start from is LoRA r=16/alpha 32 on all linear layers with seeded random weights (so policy
and base differ), written once.

Pairs: the SAME text pairs for both sides, seeded: a prompt of random words (lognormal, mean ~400 tokens, at most
1,200), a chosen and a rejected answer (mean ~150 tokens, at most 400 each), so no side truncates anything; both
sides tokenise them with the chat template by the same rule (the oracle test, tests/test_training_dpo_oracle.py,
checks it token for token). Both use a constant learning rate.

(a) baseline, TRL 1.16 ``DPOTrainer`` QLoRA recipe: the 4-bit base + ``prepare_model_for_kbit_training`` + the
    SFT adapter as a trainable ``PeftModel``; TRL copies it into a frozen "ref" adapter and runs the reference
    forward every step; sigmoid loss, beta 0.1, ``per_device_train_batch_size`` pairs, gradient checkpointing,
    ``paged_adamw_8bit``, ``bf16``.
(b) project: ``resources.training.loop.train`` with ``objective: dpo`` (the production code path): reference
    log-probabilities computed once before the first step (reported apart as ``reference_s``), completion
    log-probabilities through the chunked output head, the CUDA speed defaults; same LoRA, optimiser, pairs.

Each side runs in its own process for ``--warmup`` + ``--steps`` optimiser steps; only the last ``--steps`` are
timed (CUDA synchronised at each step end). peak = torch.cuda.max_memory_allocated of the side's process.
The LAST line printed is JSON: shape, pairs_per_s, baseline_pairs_per_s, speedup, peak_gib, baseline_peak_gib,
peak_ratio, reference_s, pairs_per_s_incl_reference. Goal of issue 16: speedup >= 2 at peak_ratio <= 0.5 on
the 8b shape on one H200.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from resources.offline import HUB_OFFLINE  # noqa: E402
from train_throughput import LORA, StepClock, build_base, log, peak_gib, record  # noqa: E402

WORDS = ("order lamp candle refund shipped days customer return receipt desk parcel invoice delivery warranty "
         "broken colour size exchange address payment card account store weeks answer please thanks").split()


def make_pairs(n: int, seed: int, tokens_per_word: float) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)

    def text(mean_tokens: int, max_tokens: int) -> str:
        tokens = np.clip(rng.lognormal(np.log(mean_tokens) - 0.18, 0.6), 8, max_tokens)
        return " ".join(rng.choice(WORDS, max(2, int(tokens / tokens_per_word))))

    return [{"id": f"bench/{i}", "source": "bench", "task": "qa",
             "prompt": json.dumps([{"role": "user", "content": text(400, 1200)}]), "chosen": text(150, 400),
             "rejected": text(150, 400), "origin_ids": json.dumps([f"bench/{i}"])} for i in range(n)]


def prepare(args, work: Path) -> None:
    """Base model, SFT adapter and pairs, once."""
    import pandas as pd
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.storage import write_parquet

    base = build_base(args.shape, work / f"base-{args.shape}")
    sft = work / f"sft-{args.shape}"
    if not (sft / "adapter_model.safetensors").is_file():
        model = get_peft_model(load_causal_lm(base, quantize_4bit=True),
                               LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM", **LORA))
        gen = torch.Generator().manual_seed(args.seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.copy_((torch.randn(p.shape, generator=gen) * 0.01).to(p.device, p.dtype))
        model.save_pretrained(str(sft))
    sample = " ".join(WORDS * 8)
    per_word = len(load_tokenizer(base)(sample, add_special_tokens=False)["input_ids"]) / (8 * len(WORDS))
    pairs = make_pairs(args.pairs_per_step * (args.warmup + args.steps), args.seed, per_word)
    write_parquet(work / "pairs.parquet", pd.DataFrame(pairs))


def run_baseline(args, work: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import PeftModel, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from resources.model.loading import load_tokenizer

    cuda = torch.cuda.is_available()
    base, dtype = work / f"base-{args.shape}", torch.bfloat16 if cuda else torch.float32
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(
        str(base), dtype=dtype, device_map={"": 0 if cuda else "cpu"},
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype))
    model = PeftModel.from_pretrained(prepare_model_for_kbit_training(model), str(work / f"sft-{args.shape}"),
                                      is_trainable=True)
    import pandas as pd

    rows = pd.read_parquet(work / "pairs.parquet").to_dict("records")
    data = Dataset.from_list([{"prompt": json.loads(r["prompt"]),
                               "chosen": [{"role": "assistant", "content": r["chosen"]}],
                               "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
    clock = StepClock()

    class Clock(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            clock.mark(args.pairs_per_step)

    targs = DPOConfig(output_dir=str(work / "trl"), per_device_train_batch_size=args.pairs_per_step,
                      max_steps=args.warmup + args.steps, learning_rate=1e-4, lr_scheduler_type="constant",
                      beta=0.1, loss_type=["sigmoid"],
                      optim="paged_adamw_8bit" if cuda else "adamw_torch", bf16=cuda, use_cpu=not cuda,
                      gradient_checkpointing=True, max_length=None, logging_steps=10 ** 6, save_strategy="no",
                      report_to=[], disable_tqdm=True, dataloader_num_workers=0, seed=args.seed)
    trainer = DPOTrainer(model=model, args=targs, train_dataset=data, processing_class=load_tokenizer(base),
                         callbacks=[Clock()])
    clock.start = time.perf_counter()
    result = trainer.train()
    pps, pairs, secs = clock.rate(args.warmup)
    return {"side": "baseline", "pairs_per_s": pps, "timed_pairs": pairs, "timed_s": secs, "peak_gib": peak_gib(),
            "train_loss": result.training_loss}


def run_project(args, work: Path) -> dict:
    import shutil

    import torch

    from resources.training.config import TrainConfig
    from resources.training.loop import train
    from resources.training.reporting import Reporter

    cuda = torch.cuda.is_available()
    # the same pairs per optimiser step as the baseline, in micro-batches of --micro-pairs (memory vs speed)
    micro = args.micro_pairs or args.pairs_per_step
    if args.pairs_per_step % micro:
        raise SystemExit(f"--micro-pairs {micro} must divide --pairs-per-step {args.pairs_per_step}")
    cfg = TrainConfig(lora_r=LORA["r"], lora_alpha=LORA["lora_alpha"], lora_dropout=LORA["lora_dropout"],
                      objective="dpo", beta=0.1, learning_rate=1e-4, lr_scheduler="constant", warmup_steps=0,
                      max_steps=args.warmup + args.steps, micro_batch_size=micro, max_seq_len=2048,
                      gradient_accumulation_steps=args.pairs_per_step // micro,
                      max_batch_tokens=micro * 2 * 2048, save_every=10 ** 6, seed=args.seed,
                      optimizer="paged_adamw_8bit" if cuda else "adamw_torch")
    clock, marks = StepClock(), {}

    class Clocked(Reporter):
        def step(self, r):
            clock.mark(int(r["pairs"]))

        def log(self, message):
            if message.startswith("reference:"):
                marks["reference_done"] = time.perf_counter()
            elif message.startswith("starting from adapter"):
                marks["reference_start"] = time.perf_counter()
            log(f"project: {message}")

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    out = work / "project"
    shutil.rmtree(out, ignore_errors=True)  # an earlier run's checkpoint would be resumed, not trained
    clock.start = time.perf_counter()
    result = train(cfg, work / f"base-{args.shape}", work / "pairs.parquet", out, Clocked(),
                   init_adapter=work / f"sft-{args.shape}")
    pps, pairs, secs = clock.rate(args.warmup)
    return {"side": "project", "pairs_per_s": pps, "timed_pairs": pairs, "timed_s": secs, "peak_gib": peak_gib(),
            "reference_s": marks.get("reference_done", 0) - marks.get("reference_start", 0),
            "final_loss": result["final_loss"]}


def child(args, role: str) -> dict:
    result_file = Path(args.work_dir) / f"result-{role}.json"
    result_file.unlink(missing_ok=True)
    spec = {**vars(args), "role": role, "result_file": str(result_file)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **HUB_OFFLINE, "BENCH_CHILD": json.dumps(spec)}
    t = time.time()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve())], env=env)
    if proc.returncode != 0 or not result_file.is_file():
        return {"side": role, "error": f"exit {proc.returncode}"}
    return {**json.loads(result_file.read_text()), "wall_s": round(time.time() - t, 1)}


def main(argv=None) -> int:
    if os.environ.get("BENCH_CHILD"):
        spec = json.loads(os.environ["BENCH_CHILD"])
        args, work = argparse.Namespace(**spec), Path(spec["work_dir"])
        res = {"prepare": lambda: prepare(args, work) or {"prepared": True},
               "baseline": lambda: run_baseline(args, work), "project": lambda: run_project(args, work)}[spec["role"]]()
        Path(spec["result_file"]).write_text(json.dumps(res, default=str))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=["tiny", "1b", "8b"], default="tiny")
    p.add_argument("--steps", type=int, default=10, help="timed optimiser steps per side")
    p.add_argument("--warmup", type=int, default=2, help="untimed optimiser steps first")
    p.add_argument("--pairs-per-step", type=int, default=8)
    p.add_argument("--micro-pairs", type=int, default=0, help="project: pairs per micro-batch (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="/tmp/privft-bench-dpo")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args(argv)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    child(args, "prepare")
    results = {"project": child(args, "project")}
    if not args.no_baseline:
        results["baseline"] = child(args, "baseline")
    for side, res in results.items():
        record(Path(args.work_dir), {"shape": args.shape, "bench": "dpo", **res})
        log(f"{side}: {res}")
    ours, theirs = results["project"], results.get("baseline", {})
    total = args.pairs_per_step * (args.warmup + args.steps)  # every pair is in the reference pass once

    def r(x, n=3):
        return round(x, n) if isinstance(x, (int, float)) else None

    final = {"shape": args.shape, "pairs_per_step": args.pairs_per_step,
             "pairs_per_s": r(ours.get("pairs_per_s")), "baseline_pairs_per_s": r(theirs.get("pairs_per_s")),
             "speedup": r(ours["pairs_per_s"] / theirs["pairs_per_s"]) if "pairs_per_s" in ours
             and "pairs_per_s" in theirs else None,
             "peak_gib": r(ours.get("peak_gib")), "baseline_peak_gib": r(theirs.get("peak_gib")),
             "peak_ratio": r(ours["peak_gib"] / theirs["peak_gib"]) if ours.get("peak_gib") and theirs.get("peak_gib")
             else None, "reference_s": r(ours.get("reference_s")),
             # the reference pass charged to the timed pairs by their share of all pairs (one epoch each)
             "pairs_per_s_incl_reference": r(ours["timed_pairs"] / (ours["timed_s"] + ours["reference_s"]
                                                                    * ours["timed_pairs"] / total))
             if "timed_pairs" in ours else None,
             "errors": {k: v["error"] for k, v in results.items() if "error" in v}}
    print(json.dumps(final), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
