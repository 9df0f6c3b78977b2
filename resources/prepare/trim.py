"""Fit examples into the base model's context: measure in its own tokens, then drop or truncate.

Length is the token count of the chat-formatted example (``tokenizer.apply_chat_template``), exactly what the
trainer will see. Truncation only ever cuts prompt text (the longest user message, from its middle or end):
the reference answer is what the model learns to produce, so cutting it would teach truncated answers. An
example whose answer does not fit even with an empty prompt is filtered ("answer_too_long"), never cut.

Tool use is checked first, because this is the first stage that knows the base model's tokenizer: an example
with tool calls or tool results that the chat template cannot render is filtered ("tools unsupported: ..."), since
its length would be measured, and its training text built, without the calls the answer depends on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from resources.model.tool_rendering import tool_rendering_problem
from resources.schema import FILTERED, KEPT, LEDGER_COLUMNS, EXAMPLE_COLUMNS, ledger_entry, messages_of

STAGE = "trim"
ELISION = " … "  # marks a middle cut, so the model sees that text is missing rather than a false join


def token_length(tokenizer, messages: list[dict[str, str]]) -> int:
    ids = tokenizer.apply_chat_template(messages, tokenize=True)
    if isinstance(ids, Mapping) or hasattr(ids, "input_ids"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)


def histogram_edges(max_tokens: int) -> list[int]:
    fractions = (0, 0.125, 0.25, 0.5, 0.75, 1, 1.5, 2, 4)
    return sorted({int(max_tokens * f) for f in fractions})


def length_histogram(lengths: list[int], edges: list[int]) -> dict:
    """Counts per bucket (edges[i], edges[i+1]] (the first from 0), plus one open bucket above edges[-1]."""
    counts = [0] * len(edges)
    for n in lengths:
        i = next((k for k in range(1, len(edges)) if n <= edges[k]), len(edges))
        counts[i - 1] += 1
    labels = [f"{edges[i - 1] + (1 if i > 1 else 0)}-{edges[i]}" for i in range(1, len(edges))] + [f">{edges[-1]}"]
    return {"edges": edges, "labels": labels, "counts": counts}


def _pieces(tokenizer, text: str) -> list[tuple[int, int]]:
    """Character span of every token of ``text``, so cuts fall on token boundaries without decoding bytes."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in enc["offset_mapping"]]
    except (NotImplementedError, ValueError, TypeError, KeyError):  # slow tokenizers have no offsets
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"]) or 1
        step = len(text) / n
        return [(int(i * step), int((i + 1) * step)) for i in range(n)]


def _cut(text: str, spans: list[tuple[int, int]], keep: int, where: str) -> str:
    if keep >= len(spans):
        return text
    if keep <= 0:
        return ""
    if where == "end":
        return text[:spans[keep - 1][1]].rstrip()
    head = (keep + 1) // 2
    tail = keep - head
    start_tail = spans[len(spans) - tail][0] if tail else len(text)
    return text[:spans[head - 1][1]].rstrip() + ELISION + text[start_tail:].lstrip()


def _truncate(tokenizer, msgs: list[dict], max_tokens: int, where: str) -> list[dict] | None:
    """Shorten user messages, longest first, until the example fits; None if no user text is left to cut."""
    msgs = [dict(m) for m in msgs]
    while (excess := token_length(tokenizer, msgs) - max_tokens) > 0:
        users = [i for i, m in enumerate(msgs) if m["role"] == "user" and m["content"]]
        if not users:
            return None
        i = max(users, key=lambda k: len(msgs[k]["content"]))
        original = msgs[i]["content"]
        spans = _pieces(tokenizer, original)

        def fits(keep: int) -> bool:
            msgs[i]["content"] = _cut(original, spans, keep, where)
            return token_length(tokenizer, msgs) <= max_tokens

        # Largest number of kept tokens that fits, by binary search; token counts nearly add up, so two probes
        # around "drop the excess" usually narrow the range to a few candidates first.
        lo, hi = 0, len(spans) - 1
        for probe in (len(spans) - excess - 6, len(spans) - excess + 1):
            if lo < probe <= hi:
                if fits(probe):
                    lo = probe
                else:
                    hi = probe - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        msgs[i]["content"] = _cut(original, spans, lo, where)
    if not any(m["content"].strip() for m in msgs if m["role"] == "user"):
        return None
    return msgs


def trim_examples(examples: pd.DataFrame, tokenizer, max_tokens: int, mode: str = "drop", *,
                  truncate_from: str = "middle") -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Keep examples of at most ``max_tokens`` tokens; return (examples, ledger for every input row, stats)."""
    if mode not in ("drop", "truncate"):
        raise ValueError(f"trim mode {mode!r}: use 'drop' or 'truncate'")
    if truncate_from not in ("middle", "end"):
        raise ValueError(f"truncate_from {truncate_from!r}: use 'middle' or 'end'")
    kept, ledger, before, after = [], [], [], []
    counts = {"truncated": 0, "too_long": 0, "answer_too_long": 0, "tools_unsupported": 0}
    for rec in examples.to_dict("records"):
        msgs = messages_of(rec)
        entry = dict(id=rec["id"], source=rec.get("source", ""), drop=rec.get("drop", ""), file="",
                     line=int(rec.get("row", 0) or 0), stage=STAGE)
        problem = tool_rendering_problem(tokenizer, msgs)
        if problem:
            counts["tools_unsupported"] += 1
            ledger.append(ledger_entry(**entry, state=FILTERED, reason=problem))
            continue
        n = token_length(tokenizer, msgs)
        before.append(n)
        if n > max_tokens:
            reason = "too_long"
            if mode == "truncate":
                # The answer must fit with every user message emptied, or no prompt cut can save the example.
                bare = [{**m, "content": ""} if m["role"] == "user" else m for m in msgs]
                short = _truncate(tokenizer, msgs, max_tokens, truncate_from) \
                    if token_length(tokenizer, bare) <= max_tokens else None
                reason = "answer_too_long"
                if short is not None:
                    msgs, reason = short, ""
                    rec = {**rec, "messages": json.dumps(msgs, ensure_ascii=False)}
                    counts["truncated"] += 1
                    n = token_length(tokenizer, msgs)
            if reason:
                counts[reason] += 1
                ledger.append(ledger_entry(**entry, state=FILTERED, reason=reason))
                continue
        after.append(n)
        kept.append(rec)
        ledger.append(ledger_entry(**entry, state=KEPT))
    edges = histogram_edges(max_tokens)
    columns = list(EXAMPLE_COLUMNS) + [c for c in examples.columns if c not in EXAMPLE_COLUMNS]
    stats = {
        "max_tokens": max_tokens, "mode": mode, "rows_in": len(examples), "rows_out": len(kept), **counts,
        "max_length_before": max(before, default=0), "max_length_after": max(after, default=0),
        "mean_length_before": round(sum(before) / len(before), 1) if before else 0.0,
        "mean_length_after": round(sum(after) / len(after), 1) if after else 0.0,
        "histogram_before": length_histogram(before, edges),
        "histogram_after": length_histogram(after, edges),
    }
    return pd.DataFrame(kept, columns=columns), pd.DataFrame(ledger, columns=list(LEDGER_COLUMNS)), stats
