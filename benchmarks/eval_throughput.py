"""Benchmark: the evaluator's greedy generation against plain transformers ``generate`` in padded batches of 8.

    python benchmarks/eval_throughput.py --shape 8b|1b|tiny|smollm2 [--items 72] [--max-new-tokens 64] [--static]

Model: the random-weight Llama of ``train_throughput.py`` (8b = Llama-3.1-8B's shape, bf16 on a GPU; tiny =
``builtin:tiny`` in fp32 on a CPU), loaded once; both sides generate from the same weights.
Prompts: ``--items`` chat prompts built from the embedded sample sources (``data/samples``), so their lengths
vary as a held-out set's do, rendered with the chat template.

(a) baseline: ``model.generate`` on batches of 8 prompts in input order, left-padded to the longest of the
    batch, greedy, ``max_new_tokens``: what an evaluation loop written from the transformers docs does.
(b) project: ``resources.evaluation.generation.generate``, the evaluator's path (prompts sorted by length,
    batches sized by a token budget: auto = what half the free GPU memory holds in KV cache).
(c) with ``--static``: (b) with a static KV cache (transformers then compiles the decoding step), timed on a
    second pass after a first that pays the compilation.

Tokens/s counts generated tokens (up to and including EOS). Outputs are compared text for text with the
baseline's: greedy decoding is deterministic, so a difference can only come from the batch layout changing
floating-point rounding at a near-tie. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASELINE_BATCH = 8


def sample_prompts(n: int) -> list[list[dict[str, str]]]:
    """User turns from the sample sources, cycled to ``n``: the lengths of real support questions."""
    import pandas as pd

    texts: list[str] = []
    for path in sorted((REPO / "data" / "samples" / "reviewed_interactions").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:  # the samples include malformed rows on purpose (the pipeline quarantines them); skip those
                messages = json.loads(line).get("messages", [])
                messages = json.loads(messages) if isinstance(messages, str) else messages
                texts += [m["content"] for m in messages if m.get("role") == "user" and isinstance(m["content"], str)]
            except (ValueError, AttributeError, KeyError, TypeError):
                continue
    for path in sorted((REPO / "data" / "samples" / "corrected_outputs").glob("*.csv")):
        texts += [str(p) for p in pd.read_csv(path, on_bad_lines="skip")["prompt"].dropna()]
    return [[{"role": "user", "content": texts[i % len(texts)]}] for i in range(n)]


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def baseline(model, tokenizer, prompts, max_new_tokens: int, counted: list | None = None) -> list[str]:
    """``counted``: gets the number of tokens generated per prompt (up to and including EOS)."""
    import torch

    tokenizer.padding_side = "left"
    out: list[str] = []
    for start in range(0, len(prompts), BASELINE_BATCH):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in prompts[start:start + BASELINE_BATCH]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new = ids[:, batch["input_ids"].shape[1]:]
        out += [tokenizer.decode(r, skip_special_tokens=True).strip() for r in new]
        if counted is not None:
            for row in new.tolist():
                ends = [i for i, t in enumerate(row) if t == tokenizer.eos_token_id]
                counted.append(ends[0] + 1 if ends else len(row))
    return out


def timed(fn):
    sync()
    start = time.perf_counter()
    result = fn()
    sync()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="tiny", choices=["tiny", "1b", "8b", "smollm2"],
                        help="smollm2: the real SmolLM2-135M-Instruct (--base), where greedy answers are words")
    parser.add_argument("--base", default="builtin:smollm2-135m-instruct",
                        help="base.name for --shape smollm2 (e.g. a path to its GGUF file)")
    parser.add_argument("--items", type=int, default=72)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--static", action="store_true", help="also time the static-cache variant")
    parser.add_argument("--work", default="", help="folder for the built base (reused across runs)")
    parser.add_argument("--dtype", default="", choices=["", "bfloat16", "float32"],
                        help="default: bfloat16 on a GPU, float32 on a CPU")
    args = parser.parse_args()

    from pipelines.environment import apply_offline_env

    apply_offline_env()
    import torch

    from benchmarks.train_throughput import build_base
    from resources.evaluation.generation import batch_token_budget, context_limit, encode_prompt, generate
    from resources.model.loading import load_causal_lm, load_tokenizer

    work = Path(args.work or tempfile.mkdtemp(prefix="eval-throughput-"))
    if args.shape == "smollm2":
        from resources.model.gguf import dequantise, find_gguf  # not BaseModel: the GPU image has no dagster

        base = dequantise(find_gguf(args.base), work / "base-smollm2")
    else:
        base = build_base(args.shape, work / f"base-{args.shape}")
    cuda = torch.cuda.is_available()
    tokenizer = load_tokenizer(base)
    dtype = getattr(torch, args.dtype) if args.dtype else torch.bfloat16 if cuda else torch.float32
    model = load_causal_lm(base, dtype=dtype).eval()
    n = args.max_new_tokens
    room = context_limit(model, tokenizer) - n  # longer prompts get cut by the evaluator, not by the baseline
    prompts = [p for p in sample_prompts(4 * args.items) if len(encode_prompt(tokenizer, p)) <= room][:args.items]

    baseline(model, tokenizer, prompts[:BASELINE_BATCH], 4)  # warm-up: kernels, allocator
    counted: list[int] = []
    reference, base_s = timed(lambda: baseline(model, tokenizer, prompts, n, counted))
    tokens = sum(counted)
    sides = {"baseline": {"seconds": base_s, "batch": BASELINE_BATCH}}
    budget = batch_token_budget(model, 0)
    variants = [("project", False)] + ([("project_static", True)] if args.static else [])
    for name, static in variants:
        if static:  # first pass compiles; the evaluator pays it once per process, the benchmark reports both
            _, first = timed(lambda: generate(model, tokenizer, prompts, max_new_tokens=n, static_cache=True))
        got, seconds = timed(lambda: generate(model, tokenizer, prompts, max_new_tokens=n, static_cache=static))
        same = sum(a == b for a, b in zip(got, reference))
        sides[name] = {"seconds": seconds, "batch_tokens": budget, "identical_outputs": same,
                       "speedup": base_s / seconds, **({"first_pass_seconds": first} if static else {})}
    for name, side in sides.items():
        side["tokens_per_s"] = tokens / side["seconds"]
        print(f"{name:15s} {side['seconds']:7.2f}s {side['tokens_per_s']:9.1f} generated tokens/s"
              + (f"  {side['speedup']:.2f}x, identical {side['identical_outputs']}/{len(prompts)}"
                 if "speedup" in side else ""), flush=True)
    device = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(json.dumps({"shape": args.shape, "device": device, "dtype": str(dtype).replace("torch.", ""), "items": len(prompts), "max_new_tokens": n,
                      "generated_tokens": tokens, **sides}))


if __name__ == "__main__":
    main()
