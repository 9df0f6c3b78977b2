"""Batched greedy generation: deterministic, bounded, left-padded, and safe against out-of-memory.

Greedy decoding (no sampling) under a fixed seed makes a report repeat exactly when nothing changed, which is
what lets two evaluations of the same checkpoint be compared byte for byte. Batches are sized by a token budget
and split in half on out-of-memory (see ``batching.py``).
"""

from __future__ import annotations

from typing import Sequence, Union

from resources.evaluation.batching import run_batched

Prompt = Union[str, list]  # raw text, or a chat (list of {role, content}) rendered with the chat template


def context_limit(model, tokenizer) -> int:
    """The longest sequence the model takes: the tokenizer's limit when set, else the config's positions."""
    limit = getattr(tokenizer, "model_max_length", None)
    if not limit or limit > 1_000_000:  # transformers uses a huge sentinel for "not set"
        limit = getattr(model.config, "max_position_embeddings", 2048)
    return int(limit)


def encode_prompt(tokenizer, prompt: Prompt) -> list[int]:
    """Token ids of a prompt; a chat is rendered with the generation prompt (the assistant turn opener)."""
    if isinstance(prompt, str):
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        bos = tokenizer.bos_token_id
        return ([bos] if bos is not None and (not ids or ids[0] != bos) else []) + list(ids)
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def left_pad(rows: Sequence[list[int]], pad_id: int):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids, mask


CPU_BATCH_TOKENS = 4096
GPU_MEMORY_SHARE = 0.5  # of the free memory, for the KV cache; the rest is headroom for activations and logits


def batch_token_budget(model, configured: int) -> int:
    """Tokens per generation batch: ``configured`` when > 0; else (auto) 4096 on a CPU, and on a GPU as many as
    the KV cache of half the free memory holds. Decoding is memory-bound, so a batch of 100 costs little more
    per step than a batch of 8: the batch size is what sets evaluation throughput on a GPU."""
    if configured > 0:
        return configured
    device = next(model.parameters()).device
    if device.type != "cuda":
        return CPU_BATCH_TOKENS
    import torch

    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    element = max(2, next(model.parameters()).element_size())  # 4-bit weights still cache K/V in 16 bits
    per_token = 2 * cfg.num_hidden_layers * heads * head_dim * element  # K and V, every layer
    free, _ = torch.cuda.mem_get_info(device)
    return max(CPU_BATCH_TOKENS, int(GPU_MEMORY_SHARE * free / per_token))


def generate(model, tokenizer, prompts: Sequence[Prompt], *, max_new_tokens: int = 64,
             max_batch_tokens: int = 0, seed: int = 0, static_cache: bool = False) -> list[str]:
    """Greedy completions of ``prompts`` (at most ``max_new_tokens`` each), returned in input order.

    Prompts are sorted by length and batched by a token budget (``batch_token_budget``; 0 = auto).
    ``static_cache``: a preallocated KV cache, which transformers compiles the decoding step for on a GPU;
    it pays when the same batch shapes recur (benchmarks/eval_throughput.py measures it)."""
    import torch

    torch.manual_seed(seed)
    max_batch_tokens = batch_token_budget(model, max_batch_tokens)
    cache = {"cache_implementation": "static"} if static_cache else {}
    keep = max(1, context_limit(model, tokenizer) - max_new_tokens)
    encoded = [encode_prompt(tokenizer, p)[-keep:] for p in prompts]  # keep the end: the question is there
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def run(batch: list[int]) -> list[str]:
        ids, mask = left_pad([encoded[i] for i in batch], pad_id)
        with torch.inference_mode():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                 pad_token_id=pad_id, eos_token_id=tokenizer.eos_token_id, **cache)
        new = out[:, ids.shape[1]:].tolist()
        return [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]

    try:
        return run_batched([len(e) for e in encoded], max_batch_tokens, run, extra_tokens=max_new_tokens)
    finally:
        model.train(was_training)
