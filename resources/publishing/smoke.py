"""Smoke inference: the published model answers fixed prompts, and merging paid off in latency.

The merged model and base+adapter (unmerged peft, which runs two extra small matmuls per adapted layer) answer
the same prompts greedily. Answers come from one normal run; latency is the median over ``repeats`` timed runs
that each generate exactly ``max_new_tokens`` tokens per prompt (EOS disabled by ``min_new_tokens``) so both
models do the same amount of work. The two models are loaded one after the other, never both at once.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
from resources.publishing.prompts import DEFAULT_PROMPTS, Prompt, encode_prompt, prompt_label


def smoke_inference(merged_dir: Path | str, base_model_dir: Path | str, adapter_dir: Path | str,
                    prompts: Sequence[Prompt] = DEFAULT_PROMPTS, max_new_tokens: int = 32, *, repeats: int = 3,
                    dtype=None, trust_remote_code: bool = False, allow_pickle: bool = False) -> dict[str, Any]:
    prompts = list(prompts)
    tokenizer = load_tokenizer(merged_dir, trust_remote_code=trust_remote_code)

    merged = load_causal_lm(merged_dir, dtype=dtype, trust_remote_code=trust_remote_code).eval()
    merged_answers, merged_times = _run(merged, tokenizer, prompts, max_new_tokens, repeats)
    del merged
    _free()

    base = load_causal_lm(base_model_dir, dtype=dtype, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    unmerged = load_adapter(base, adapter_dir).eval()
    unmerged_answers, unmerged_times = _run(unmerged, tokenizer, prompts, max_new_tokens, repeats)
    del unmerged, base
    _free()

    merged_s, unmerged_s = statistics.median(merged_times), statistics.median(unmerged_times)
    tokens = max_new_tokens * len(prompts)
    return {
        "answers": [{"prompt": prompt_label(p), "merged": m, "base_plus_adapter": u, "equal": m == u}
                    for p, m, u in zip(prompts, merged_answers, unmerged_answers)],
        "all_answered": all(a.strip() for a in merged_answers),
        "latency": {"merged_s": merged_s, "base_plus_adapter_s": unmerged_s,
                    "merged_ms_per_token": 1000 * merged_s / tokens,
                    "base_plus_adapter_ms_per_token": 1000 * unmerged_s / tokens,
                    "speedup": unmerged_s / merged_s if merged_s > 0 else float("nan"),
                    "repeats": repeats, "tokens_per_run": tokens},
        "max_new_tokens": max_new_tokens,
    }


def _run(model, tokenizer, prompts, max_new_tokens: int, repeats: int) -> tuple[list[str], list[float]]:
    import torch

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    inputs = [torch.tensor([encode_prompt(tokenizer, p)], device=device) for p in prompts]

    def generate(x, forced: bool):
        extra = {"min_new_tokens": max_new_tokens} if forced else {}
        return model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
                              do_sample=False, num_beams=1, pad_token_id=pad, **extra)

    with torch.no_grad():
        # The answer run doubles as warm-up (kernel selection, caches), so it is not timed.
        answers = [tokenizer.decode(generate(x, False)[0, x.shape[1]:], skip_special_tokens=True) for x in inputs]
        times = []
        for _ in range(max(1, repeats)):
            _sync()
            start = time.perf_counter()
            for x in inputs:
                generate(x, True)
            _sync()
            times.append(time.perf_counter() - start)
    return answers, times


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
