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


def generate(model, tokenizer, prompts: Sequence[Prompt], *, max_new_tokens: int = 64,
             max_batch_tokens: int = 4096, seed: int = 0) -> list[str]:
    """Greedy completions of ``prompts`` (at most ``max_new_tokens`` each), returned in input order."""
    import torch

    torch.manual_seed(seed)
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
                                 pad_token_id=pad_id, eos_token_id=tokenizer.eos_token_id)
        new = out[:, ids.shape[1]:].tolist()
        return [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]

    try:
        return run_batched([len(e) for e in encoded], max_batch_tokens, run, extra_tokens=max_new_tokens)
    finally:
        model.train(was_training)
