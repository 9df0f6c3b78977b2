"""Turn one example's chat into token ids and labels: loss on the assistant's words only.

The tokenizer's own chat template renders the conversation, so training sees exactly the format inference
will. Templates with ``{% generation %}`` markers (the project default has them) tell us which tokens the
assistant wrote; for a template without them we find the assistant spans by tokenising growing prefixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE = -100  # label value the loss skips (PyTorch cross_entropy's ignore_index)
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass
class TokenizedChat:
    input_ids: list[int]
    labels: list[int]  # IGNORE except on assistant tokens
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def tokenize_chat(tokenizer, messages: list[dict[str, str]], max_seq_len: int) -> TokenizedChat:
    """Token ids of the rendered chat, labels masked to the assistant turns, cut to ``max_seq_len`` tokens."""
    if _GENERATION_TAG.search(tokenizer.chat_template or ""):
        out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    else:
        ids, mask = _mask_by_prefixes(tokenizer, messages)
    labels = [t if m else IGNORE for t, m in zip(ids, mask)]
    return truncate(TokenizedChat(ids, labels), max_seq_len)


def _ids(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        add_generation_prompt=add_generation_prompt)
    return list(out["input_ids"])


def _mask_by_prefixes(tokenizer, messages) -> tuple[list[int], list[int]]:
    """Assistant spans from incremental renders: tokens added by an assistant turn, after its header."""
    ids = _ids(tokenizer, messages, add_generation_prompt=False)
    mask = [0] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(_ids(tokenizer, messages[:i], add_generation_prompt=True)) if i else 0
        end = len(_ids(tokenizer, messages[: i + 1], add_generation_prompt=False))
        for k in range(start, min(end, len(ids))):
            mask[k] = 1
    return ids, mask


def truncate(chat: TokenizedChat, max_seq_len: int) -> TokenizedChat:
    """Cut a chat to ``max_seq_len`` tokens, keeping the final answer whole when it fits.

    The oldest prompt tokens go first (the answer depends most on what immediately precedes it); when the answer
    alone is too long we keep a quarter of the window of prompt before it and the start of the answer.
    """
    n = len(chat)
    if n <= max_seq_len:
        return chat
    targets = [i for i, x in enumerate(chat.labels) if x != IGNORE]
    # the final answer begins after the last gap in the target positions
    answer_start = targets[0] if targets else n
    for a, b in zip(targets, targets[1:]):
        if b != a + 1:
            answer_start = b
    if n - answer_start <= max_seq_len:
        lo = n - max_seq_len
    else:
        lo = max(0, answer_start - max_seq_len // 4)
    hi = lo + max_seq_len
    return TokenizedChat(chat.input_ids[lo:hi], chat.labels[lo:hi], truncated=True)
