"""Held-out loss: mean token negative log-likelihood of the reference answer given its prompt.

Only the final assistant answer's tokens count (the tokens the chat template marks as generation, after the
prompt), exactly what training puts loss on, so held-out loss is comparable with the training loss curve.
"""

from __future__ import annotations

from typing import Any, Sequence

from resources.evaluation.generation import context_limit
from resources.evaluation.loglik import continuation_logprobs
from resources.schema import prompt_messages


def reference_span(tokenizer, example: dict[str, Any]) -> tuple[list[int], int]:
    """(ids of prompt + reference, index of the first reference token); ids end at the last reference token."""
    prompt = prompt_messages(example)
    full = prompt + [{"role": "assistant", "content": str(example["reference"])}]
    p_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    p_ids = tokenizer(p_text, add_special_tokens=False)["input_ids"]
    enc = tokenizer.apply_chat_template(full, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids = list(enc["input_ids"])
    mask = list(enc.get("assistant_masks") or [])
    if ids[:len(p_ids)] != list(p_ids):
        # a template that renders the prompt differently once an answer follows: score what follows the
        # longest common prefix, the closest honest reading of "the answer's tokens"
        n = 0
        while n < min(len(ids), len(p_ids)) and ids[n] == p_ids[n]:
            n += 1
        p_ids = p_ids[:n]
    start = len(p_ids)
    marked = [i for i in range(start, len(ids)) if i < len(mask) and mask[i]]
    if marked:  # the template marks assistant tokens: score exactly those (answer + end-of-turn token)
        return ids[:marked[-1] + 1], marked[0]
    return ids, start


def reference_nll(model, tokenizer, examples: Sequence[dict[str, Any]], *,
                  max_batch_tokens: int = 4096) -> list[tuple[float, int]]:
    """Per example: (summed NLL of the reference tokens, number of reference tokens)."""
    spans = [reference_span(tokenizer, ex) for ex in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    scored = continuation_logprobs(model, spans, pad_id=pad_id, max_batch_tokens=max_batch_tokens,
                                   max_length=context_limit(model, tokenizer))
    return [(-lp, n) for lp, n in scored]

