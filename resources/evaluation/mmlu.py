"""Multiple choice scored exactly as lm-evaluation-harness scores MMLU (task ``mmlu``, 0-shot, metric ``acc``).

Kept byte-compatible with lm-eval 0.4 (``lm_eval/tasks/mmlu/default/_default_template_yaml`` and the subject
descriptions written by ``lm_eval/tasks/mmlu/_generate_configs.py``) so that a forgetting figure here can be
set beside a published MMLU number and checked against lm-eval itself (``benchmarks/mmlu_agreement.py``):

- context: ``The following are multiple choice questions (with answers) about <subject with spaces>.\\n\\n``
  then ``<question stripped>\\nA. <choice0>\\nB. <choice1>\\nC. <choice2>\\nD. <choice3>\\nAnswer:``;
- continuations `` A`` .. `` D`` (target delimiter ``" "`` + the letter), each scored by its summed
  log-likelihood; the prediction is the first argmax;
- tokens as lm-eval's HF backend makes them: the tokenizer's own special tokens (no BOS forced on or off),
  the continuation being what encoding context + continuation adds after the context's tokens.
"""

from __future__ import annotations

from typing import Any, Sequence

from resources.evaluation.generation import context_limit
from resources.evaluation.loglik import continuation_logprobs, next_token_logprobs

LETTERS = ("A", "B", "C", "D")
TARGET_DELIMITER = " "


def description(subject: str) -> str:
    return f"The following are multiple choice questions (with answers) about {' '.join(subject.split('_'))}.\n\n"


def mmlu_prompt(item: dict[str, Any]) -> str:
    """The 0-shot context lm-eval builds for an item (description + doc_to_text); choices are not stripped."""
    c = item["choices"]
    body = (f"{item['question'].strip()}\nA. {c[0]}\nB. {c[1]}\nC. {c[2]}\nD. {c[3]}\nAnswer:")
    return description(item["subject"]) + body


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's ``_encode_pair`` for causal models: trailing spaces of the context move to the continuation,
    and the continuation's tokens are those of the whole text past the context's length."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = list(tokenizer(context + continuation)["input_ids"])
    ctx = list(tokenizer(context)["input_ids"])
    return ctx, whole[len(ctx):]


def letter_logprobs(model, tokenizer, items: Sequence[dict[str, Any]], *,
                    max_batch_tokens: int = 4096) -> list[list[float]]:
    """Per item the log-likelihood of `` A`` .. `` D`` after its prompt."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    max_length = context_limit(model, tokenizer)
    pairs = [[encode_pair(tokenizer, mmlu_prompt(it), TARGET_DELIMITER + letter) for letter in LETTERS]
             for it in items]
    if all(len(cont) == 1 for item_pairs in pairs for _, cont in item_pairs):  # every tokenizer seen so far
        return next_token_logprobs(model, [p[0][0] for p in pairs], [[cont[0] for _, cont in p] for p in pairs],
                                   pad_id=pad_id, max_batch_tokens=max_batch_tokens, max_length=max_length)
    flat = [(ctx + cont, len(ctx)) for item_pairs in pairs for ctx, cont in item_pairs]
    scored = continuation_logprobs(model, flat, pad_id=pad_id, max_batch_tokens=max_batch_tokens,
                                   max_length=max_length)
    return [[lp for lp, _ in scored[4 * i:4 * i + 4]] for i in range(len(items))]


def letter_predictions(model, tokenizer, items: Sequence[dict[str, Any]], *,
                       max_batch_tokens: int = 4096) -> list[int]:
    """The index of the answer letter each item's prompt makes most likely (ties: the first, as numpy's)."""
    scores = letter_logprobs(model, tokenizer, items, max_batch_tokens=max_batch_tokens)
    return [max(range(len(s)), key=lambda k: (s[k], -k)) for s in scores]
