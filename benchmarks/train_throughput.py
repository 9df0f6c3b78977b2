"""Benchmark: this project's QLoRA trainer against the stock Hugging Face Trainer QLoRA recipe, in one run.

    python benchmarks/train_throughput.py --shape 8b|1b|tiny --steps N [--warmup 2] [--nproc 2]
        [--micro-batch-tokens 8192] [--variant NAME:key=value,...] [--log-dir DIR] [--no-baseline]

Base model: a RANDOM-WEIGHT Llama built from a config, no download (1b = Llama-3.2-1B's shape, 8b =
Llama-3.1-8B's, tiny = the project's ``builtin:tiny`` for a CPU smoke run), written once as bf16 safetensors
and loaded by both sides through ``from_pretrained`` with 4-bit NF4 double quantisation.

Data: the SAME synthetic SFT mix for both sides: chat lengths lognormal (mean ~420 tokens, sigma 0.9, clipped to
[32, 2048]), random token ids, seeded; the first 20-80% of each chat is prompt (label -100), the rest answer.

(a) baseline, the stock recipe: ``BitsAndBytesConfig`` NF4 + double quant + bf16 compute,
    ``prepare_model_for_kbit_training``, LoRA r=16/alpha 32/dropout 0.05 on all linear layers, transformers
    ``Trainer`` with batches of 8 chats padded to the longest in the batch (with attention mask), gradient
    checkpointing, ``optim="paged_adamw_8bit"``, ``bf16=True``.
(b) project: ``resources.training.loop.train`` (the production code path: packing into rows of
    ``--row-tokens`` without cross-document attention, ``--micro-batch-tokens`` per micro-batch, the CUDA
    speed defaults of resources/training/speed.py), same LoRA config, optimiser and data. Only
    ``load_documents`` is replaced, to hand the synthetic token ids to the loop instead of tokenising a file.
    Its ``activation_memory`` is ``auto`` (activation_plan.py): on a large GPU every layer keeps its activations;
    ``--variant classic:activation_memory=off`` is the classic recipe (every layer checkpointed).

Each side runs in its own subprocess (clean GPU memory and no kernel patches leaking across) for
``--warmup`` + ``--steps`` optimiser steps; only the last ``--steps`` are timed (CUDA synchronised at each
step end). Tokens are REAL tokens (prompt + answer, never padding). peak = torch.cuda.max_memory_allocated
of the side's process. mfu = 6 x N_params x tokens_per_s / 989e12 (H200 dense bf16 peak), a convention: with
a frozen base and gradient checkpointing the work done per token differs from 6N.

``--nproc 2``: the project trainer additionally runs under ``torchrun --nproc_per_node 2`` (data parallel, the
same code path the Trainer resource launches), then its final adapter is loaded with peft and compared with the
1-GPU one. ``tokens_per_s`` is then the 2-GPU figure and ``tokens_per_s_1gpu`` the 1-GPU one.

The LAST line printed is JSON: shape, tokens_per_s, baseline_tokens_per_s, speedup, peak_gib,
baseline_peak_gib, mfu, nproc (plus details). Everything is also appended to ``--log-dir``/results.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from resources.offline import HUB_OFFLINE, apply_offline_env  # noqa: E402

H200_BF16_FLOPS = 989e12
LLAMA3 = dict(vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
              bos_token_id=128000, eos_token_id=128001)
SHAPES = {
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, tie_word_embeddings=True, **LLAMA3),
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, tie_word_embeddings=False, **LLAMA3),
}
LORA = dict(r=16, lora_alpha=32, lora_dropout=0.05)
BASELINE_BATCH = 8
MEAN_TOKENS, SIGMA, MIN_TOKENS, MAX_TOKENS = 420, 0.9, 32, 2048


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def record(log_dir: Path, entry: dict) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


# --- base model and data ------------------------------------------------------------------------------------
def build_base(shape: str, dest: Path) -> Path:
    """A random-weight Llama of the shape, as a local model folder (bf16 safetensors + the tiny tokenizer)."""
    import torch

    if (dest / "config.json").is_file():
        return dest
    if shape == "tiny":
        from resources.model.tiny import build_tiny_model

        return build_tiny_model(dest)
    from transformers import AutoModelForCausalLM, LlamaConfig

    from resources.model.tiny import build_tokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = build_tokenizer([])  # only its pad id and chat template are used: the data are token ids
    config = LlamaConfig(pad_token_id=tokenizer.pad_token_id, **SHAPES[shape])
    torch.manual_seed(0)
    t = time.time()
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(dest, max_shard_size="5GB")
    tokenizer.save_pretrained(dest)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    log(f"built random {shape} base in {time.time() - t:.0f}s at {dest}")
    return dest


def model_facts(base: Path) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(str(base))
    with torch.device("meta"):  # not accelerate's init_empty_weights: under it tied embeddings count twice
        model = AutoModelForCausalLM.from_config(cfg)
    return {"n_params": sum(p.numel() for p in model.parameters()), "vocab_size": cfg.vocab_size}


def synthetic_docs(n_tokens: int, vocab_size: int, seed: int, mean: int = MEAN_TOKENS, longest: int = MAX_TOKENS):
    """Chats until ``n_tokens`` real tokens: lognormal lengths, the first 20-80% prompt (masked), rest answer."""
    import math

    import numpy as np

    from resources.training.chat_tokens import IGNORE, TokenizedChat

    rng = np.random.default_rng(seed)
    mu = math.log(mean) - SIGMA ** 2 / 2
    docs, total = [], 0
    while total < n_tokens:
        n = int(np.clip(rng.lognormal(mu, SIGMA), MIN_TOKENS, longest))
        ids = rng.integers(3, vocab_size, n).tolist()
        cut = max(1, min(n - 1, int(n * rng.uniform(0.2, 0.8))))
        docs.append(TokenizedChat(ids, [IGNORE] * cut + ids[cut:]))
        total += n
    return docs


def data_for(args, vocab_size: int):
    # enough for every step of every side without repeating: the project side eats the most. The margin matters:
    # packing leaves gaps, and a stream that runs dry starts its next epoch (a reshuffle and repack of seconds)
    # inside the timed steps
    need = 2 * (args.warmup + args.steps + 1) * max(args.micro_batch_tokens * max(args.nproc, 1),
                                                    BASELINE_BATCH * 2048)
    if args.long_docs:  # documents of up to a whole row, half a row on average
        return synthetic_docs(need, vocab_size, args.seed, mean=args.row_tokens // 2, longest=args.row_tokens)
    return synthetic_docs(need, vocab_size, args.seed)


# --- timing ----------------------------------------------------------------------------------------------------
class StepClock:
    """Wall time and cumulative real tokens at each optimiser step's end (CUDA synchronised)."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []
        self.tokens = 0

    def mark(self, tokens_in_step: int) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.tokens += tokens_in_step
        self.marks.append((time.perf_counter(), self.tokens))

    def rate(self, warmup: int) -> tuple[float, int, float]:
        """(tokens/s, tokens, seconds) over the steps after ``warmup``."""
        (t0, k0), (t1, k1) = self.marks[warmup - 1] if warmup else (self.start, 0), self.marks[-1]
        return (k1 - k0) / (t1 - t0), k1 - k0, t1 - t0


def peak_gib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2 ** 30 if torch.cuda.is_available() else None


# --- (a) the stock recipe ----------------------------------------------------------------------------------------
def run_baseline(args, base: Path, out: Path) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (AutoModelForCausalLM, BitsAndBytesConfig, Trainer, TrainerCallback,
                              TrainingArguments)

    from resources.training.chat_tokens import IGNORE

    cuda = torch.cuda.is_available()
    facts = model_facts(base)
    docs = data_for(args, facts["vocab_size"])
    pad_id = json.loads((base / "config.json").read_text()).get("pad_token_id") or 0
    dtype = torch.bfloat16 if cuda else torch.float32
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t_load = time.time()
    model = AutoModelForCausalLM.from_pretrained(
        str(base), dtype=dtype, device_map={"": 0 if cuda else "cpu"},
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype))
    model = prepare_model_for_kbit_training(model)
    model = get_peft_model(model, LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM", **LORA))
    log(f"baseline: model ready in {time.time() - t_load:.0f}s")

    dataset = [{"input_ids": d.input_ids, "labels": d.labels} for d in docs]

    def collate(features):  # what DataCollatorForSeq2Seq does: pad right to the longest, mask padding
        width = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [pad_id] * pad)
            labels.append(f["labels"] + [IGNORE] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}

    clock, pending, shapes = StepClock(), [0], []

    class Counting(Trainer):
        def training_step(self, model, inputs, *a, **kw):
            pending[0] += int(inputs["attention_mask"].sum())
            shapes.append((tuple(inputs["input_ids"].shape), int(inputs["attention_mask"].sum())))
            return super().training_step(model, inputs, *a, **kw)

    class Clock(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            clock.mark(pending[0])
            pending[0] = 0

    targs = TrainingArguments(output_dir=str(out / "baseline"), per_device_train_batch_size=BASELINE_BATCH,
                              gradient_accumulation_steps=1, max_steps=args.warmup + args.steps,
                              learning_rate=2e-4, optim="paged_adamw_8bit" if cuda else "adamw_torch",
                              bf16=cuda, gradient_checkpointing=True, logging_steps=10 ** 6, save_strategy="no",
                              report_to="none", disable_tqdm=True, dataloader_num_workers=0,
                              remove_unused_columns=False, seed=args.seed)
    trainer = Counting(model=model, args=targs, train_dataset=dataset, data_collator=collate, callbacks=[Clock()])
    clock.start = time.perf_counter()
    result = trainer.train()
    tps, tokens, secs = clock.rate(args.warmup)
    positions = sum(r * c for (r, c), _ in shapes)
    return {"side": "baseline", "tokens_per_s": tps, "timed_tokens": tokens, "timed_s": secs,
            "micro_batches": len(shapes), "steps": len(clock.marks), "batch_shapes": [s for s, _ in shapes],
            "padding_share": round(1 - sum(n for _, n in shapes) / max(positions, 1), 3),
            "peak_gib": peak_gib(), "train_loss": result.training_loss, "n_params": facts["n_params"]}


# --- (b) this project's trainer -------------------------------------------------------------------------------
def project_config(args, overrides: dict):
    from resources.training.config import TrainConfig

    row = args.row_tokens
    cfg = TrainConfig(lora_r=LORA["r"], lora_alpha=LORA["lora_alpha"], lora_dropout=LORA["lora_dropout"],
                      target_modules="all-linear", learning_rate=2e-4, warmup_steps=0,
                      max_steps=args.warmup + args.steps, micro_batch_size=max(1, args.micro_batch_tokens // row),
                      gradient_accumulation_steps=1, max_seq_len=row, packing=True,
                      max_batch_tokens=max(args.micro_batch_tokens, row), save_every=10 ** 6, seed=args.seed)
    return dataclasses.replace(cfg, **overrides)


def run_project(args, base: Path, out: Path, overrides: dict) -> dict:
    import torch

    import resources.training.loop as loop
    import resources.training.dataset as dataset
    from resources.training.dataset import Documents
    from resources.training.distributed import Dist, destroy_process_group, init_process_group
    from resources.training.reporting import Reporter, SilentReporter

    dist = Dist.from_env()
    init_process_group(dist)
    facts = model_facts(base)
    docs = data_for(args, facts["vocab_size"])
    # synthetic ids, no tokenising; objective.py imports load_documents from dataset.py when it runs
    dataset.load_documents = lambda path, tokenizer, max_seq_len: Documents(docs=docs)
    train_path = out / "train.placeholder"  # hashed for the resume check only
    train_path.parent.mkdir(parents=True, exist_ok=True)
    train_path.write_text(f"synthetic seed={args.seed}\n")
    cfg = project_config(args, overrides)
    clock, first_steps = StepClock(), []

    class Clocked(Reporter):
        def step(self, r):
            clock.mark(int(r["tokens"]))
            if len(first_steps) < 2:  # same data and seed in every variant: these should agree closely
                first_steps.append({"loss": round(r["loss"], 5), "grad_norm": round(r["grad_norm"], 5)})
            self.log(f"step {r['step']} loss {r['loss']:.4f} grad_norm {r['grad_norm']:.3f} tokens {r['tokens']}")

        def log(self, message):
            log(f"project: {message}")

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    clock.start = time.perf_counter()
    output_dir = out / f"project-{args.label}"
    try:
        result = loop.train(cfg, base, train_path, output_dir, Clocked() if dist.is_main else SilentReporter(),
                            dist)
    finally:
        destroy_process_group(dist)
    if not dist.is_main:
        return {}
    tps, tokens, secs = clock.rate(args.warmup)
    return {"side": "project", "label": args.label, "overrides": overrides, "tokens_per_s": tps,
            "timed_tokens": tokens, "timed_s": secs, "peak_gib": peak_gib(), "nproc": dist.world_size,
            "first_steps": first_steps, "final_loss": result["final_loss"],
            "final_checkpoint": result["final_checkpoint"],
            "n_params": facts["n_params"], "config": cfg.to_dict()}


def check_adapter(base: Path, adapter: Path, reference: Path | None) -> dict:
    """The adapter loads with plain peft onto the 4-bit base, and has the same tensors as the 1-GPU one."""
    import torch
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file

    from resources.model.loading import load_causal_lm

    files = sorted(p.name for p in adapter.iterdir() if p.is_file())
    model = PeftModel.from_pretrained(load_causal_lm(base, quantize_4bit=True), str(adapter))
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(model)
    same = all(torch.equal(saved[k].cpu(), loaded[k].to(saved[k].dtype).cpu()) for k in saved) and set(saved) == set(loaded)
    shapes_match = None
    if reference is not None:
        ref = load_file(str(reference / "adapter_model.safetensors"))
        shapes_match = {k: tuple(v.shape) for k, v in ref.items()} == {k: tuple(v.shape) for k, v in saved.items()}
    ids = torch.randint(3, min(1000, model.config.vocab_size), (1, 16), device=model.device)
    with torch.no_grad():
        finite = bool(torch.isfinite(model(input_ids=ids).logits).all())
    return {"adapter_files": files, "loads_with_peft": same, "same_keys_and_shapes_as_1gpu": shapes_match,
            "forward_finite": finite, "n_tensors": len(saved)}


# --- orchestration ---------------------------------------------------------------------------------------------
def parse_variant(text: str) -> tuple[str, dict]:
    """``name:key=value,key=value`` -> (name, TrainConfig overrides); values are parsed as JSON when they can be."""
    name, _, body = text.partition(":")
    overrides = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return name, overrides


def child(args, role: str, nproc: int = 1, **spec) -> dict:
    """Run one side in a fresh process (under torchrun for nproc > 1); its result is the JSON it writes.

    The child's arguments travel in the BENCH_CHILD environment variable, not on the command line, where
    torchrun would parse them as its own options.
    """
    results_dir = Path(args.work_dir) / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    result_file = results_dir / f"{role}-{args.shape}-{len(os.listdir(results_dir))}.json"
    spec = {**vars(args), **spec, "role": role, "result_file": str(result_file)}
    if role == "project":  # a checkpoint left by an earlier run would be resumed, not trained
        shutil.rmtree(Path(args.work_dir) / f"project-{spec['label']}", ignore_errors=True)
    script = [str(Path(__file__).resolve())]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] + script
    else:
        cmd = [sys.executable] + script
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **HUB_OFFLINE, "TOKENIZERS_PARALLELISM": "false",
           "BENCH_CHILD": json.dumps(spec)}
    t = time.time()
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0 or not result_file.is_file():
        log(f"{role} failed (exit {proc.returncode}) after {time.time() - t:.0f}s")
        return {"side": role, "label": spec.get("label"), "error": f"exit {proc.returncode}"}
    out = json.loads(result_file.read_text())
    out["wall_s"] = round(time.time() - t, 1)
    return out


def run_child(spec: dict) -> int:
    args = argparse.Namespace(**spec)
    work = Path(args.work_dir)
    base = work / f"base-{args.shape}"
    if args.role == "baseline":
        res = run_baseline(args, base, work)
    elif args.role == "project":
        res = run_project(args, base, work, args.overrides)
    elif args.role == "unsloth":
        import unsloth  # noqa: F401  (before transformers, which model_facts imports: Unsloth patches it)
        from train_throughput_unsloth import run_unsloth

        res = run_unsloth(args, base, work, lora=LORA, docs=data_for(args, model_facts(base)["vocab_size"]),
                          clock=StepClock(), facts=model_facts(base), peak_gib=peak_gib, log=log)
    else:
        res = check_adapter(base, Path(args.adapter), Path(args.reference) if args.reference else None)
    if res:
        Path(args.result_file).write_text(json.dumps(res, default=str))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=["tiny", "1b", "8b"], default="tiny")
    p.add_argument("--steps", type=int, default=10, help="timed optimiser steps per side")
    p.add_argument("--warmup", type=int, default=2, help="untimed optimiser steps first")
    p.add_argument("--nproc", type=int, default=1, help="also run the project trainer data-parallel on N GPUs")
    p.add_argument("--micro-batch-tokens", type=int, default=8192, help="project: tokens per micro-batch")
    p.add_argument("--row-tokens", type=int, default=2048, help="project: packed row length (max_seq_len)")
    p.add_argument("--long-docs", action="store_true",
                   help="documents up to --row-tokens long (mean half a row) instead of chats of <= 2,048 tokens")
    p.add_argument("--variant", action="append", default=[],
                   help="extra project runs: NAME:key=value,... (TrainConfig overrides); reported, not in the "
                        "final line unless --pick NAME")
    p.add_argument("--pick", default="default", help="which project run the final line reports")
    p.add_argument("--no-baseline", action="store_true", help="skip the stock recipe (fields become null)")
    p.add_argument("--unsloth", action="store_true", help="also run Unsloth's recipe (train_throughput_unsloth.py)")
    p.add_argument("--unsloth-dropout", type=float, default=None, help="Unsloth's LoRA dropout (default: as ours)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="/tmp/privft-bench", help="random base models and checkpoints")
    p.add_argument("--log-dir", default=None, help="results.jsonl and per-side JSON (default: work dir)")
    if os.environ.get("BENCH_CHILD"):
        return run_child(json.loads(os.environ["BENCH_CHILD"]))
    args = p.parse_args(argv)
    apply_offline_env(HUB_OFFLINE)
    work = Path(args.work_dir)
    args.log_dir = args.log_dir or str(work)
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    base = work / f"base-{args.shape}"

    import torch

    log(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, "
        f"gpus {torch.cuda.device_count() if torch.cuda.is_available() else 0}")
    build_base(args.shape, base)
    results: dict[str, dict] = {}
    if not args.no_baseline:
        results["baseline"] = child(args, "baseline")
        record(Path(args.log_dir), {"shape": args.shape, **results["baseline"]})
        log(f"baseline: {results['baseline']}")
    if args.unsloth:
        results["unsloth"] = child(args, "unsloth")
        record(Path(args.log_dir), {"shape": args.shape, **results["unsloth"]})
        log(f"unsloth: {results['unsloth']}")
    variants = dict([("default", {})] + [parse_variant(v) for v in args.variant])  # a "default" given replaces it
    for name, overrides in variants.items():
        res = child(args, "project", label=name, overrides=overrides)
        results[name] = res
        record(Path(args.log_dir), {"shape": args.shape, **res})
        log(f"project {name}: { {k: v for k, v in res.items() if k != 'config'} }")
    picked = results.get(args.pick, {})
    multi = {}
    if args.nproc > 1 and "error" not in picked:
        multi = child(args, "project", nproc=args.nproc, label=f"{args.pick}-x{args.nproc}",
                      overrides=picked.get("overrides", {}))
        record(Path(args.log_dir), {"shape": args.shape, **multi})
        log(f"project x{args.nproc}: { {k: v for k, v in multi.items() if k != 'config'} }")
        if multi.get("final_checkpoint"):
            check = child(args, "check", adapter=multi["final_checkpoint"], reference=picked["final_checkpoint"])
            multi["adapter_check"] = check
            record(Path(args.log_dir), {"shape": args.shape, "adapter_check": check})
            log(f"adapter check: {check}")

    baseline = results.get("baseline", {})
    top = multi if args.nproc > 1 else picked
    tps, btps = top.get("tokens_per_s"), baseline.get("tokens_per_s")
    n_params = picked.get("n_params") or baseline.get("n_params")
    final = {
        "shape": args.shape,
        "tokens_per_s": round(tps, 1) if tps else None,
        "baseline_tokens_per_s": round(btps, 1) if btps else None,
        "speedup": round(tps / btps, 3) if tps and btps else None,
        "peak_gib": round(top["peak_gib"], 3) if top.get("peak_gib") is not None else None,
        "baseline_peak_gib": round(baseline["peak_gib"], 3) if baseline.get("peak_gib") is not None else None,
        "mfu": round(6 * n_params * tps / H200_BF16_FLOPS, 4) if tps and n_params else None,
        "nproc": args.nproc,
    }
    if multi:
        one = picked.get("tokens_per_s")
        final.update({"tokens_per_s_1gpu": round(one, 1) if one else None,
                      "scaling": round(tps / one, 3) if tps and one else None,
                      "adapter_check": multi.get("adapter_check")})
    if picked.get("peak_gib") is not None and final["baseline_peak_gib"]:
        final["peak_ratio"] = round(picked["peak_gib"] / baseline["peak_gib"], 3)
    final["variants"] = {k: {"tokens_per_s": round(v["tokens_per_s"], 1) if v.get("tokens_per_s") else None,
                             "peak_gib": round(v["peak_gib"], 2) if v.get("peak_gib") is not None else None,
                             **({"error": v["error"]} if "error" in v else {})}
                         for k, v in results.items()}
    unsloth = results.get("unsloth", {})
    if unsloth.get("tokens_per_s"):
        final.update({"unsloth_tokens_per_s": round(unsloth["tokens_per_s"], 1),
                      "unsloth_peak_gib": round(unsloth["peak_gib"], 3),
                      "vs_unsloth": round(picked["tokens_per_s"] / unsloth["tokens_per_s"], 3)
                      if picked.get("tokens_per_s") else None})
    record(Path(args.log_dir), {"final": final})
    print(json.dumps(final), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
