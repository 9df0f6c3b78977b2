"""The preference pair: a prompt (chat messages ending with a user turn), a chosen and a rejected answer.

This is the contract between the data stage (``resources/preference/build.py``, writing
``Layout.preferences()/{train,eval}.parquet``) and DPO training, which reads those files. ``origin_ids`` lists
every source row the pair stands for (itself and the duplicates it absorbed), as ``origin_ids`` does for SFT.

``pair_problem`` is the one place that decides whether three values make a usable pair; the reason it returns
starts with a short category (what the ledger counts by), then ": detail".
"""

from __future__ import annotations

import json
import re
from typing import Any

from resources.schema import ROLES
from resources.sources.limits import bad_characters

PAIR_COLUMNS = ("id", "source", "task", "prompt", "chosen", "rejected", "origin_ids")
RATINGS = "ratings"  # the source name of pairs from filled rating sheets


def pair_problem(prompt: Any, chosen: Any, rejected: Any) -> str:
    """Why (prompt, chosen, rejected) is not a usable pair, or "" when it is. Compare after normalisation: two
    answers that differ only in whitespace or markup are the same answer."""
    why = prompt_problem(prompt)
    if why:
        return why
    for side, value in (("chosen", chosen), ("rejected", rejected)):
        if value is None:
            return f"empty {side}: no {side} response"
        if not isinstance(value, str):
            return f"wrong type: {side} is {type(value).__name__}, not a string"
        if not value.strip():
            return f"empty {side}: the {side} response is blank"
    if chosen.strip() == rejected.strip():
        return "chosen equals rejected: nothing to prefer"
    return bad_characters([prompt, chosen, rejected])  # a NUL or lone surrogate (rating sheets are typed by hand)


def prompt_problem(prompt: Any) -> str:
    if prompt is None or (isinstance(prompt, (list, str)) and not prompt):
        return "missing prompt: no prompt messages"
    if not isinstance(prompt, list):
        return f"missing prompt: the prompt is a {type(prompt).__name__}, not a list of chat messages"
    for i, m in enumerate(prompt):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"missing prompt: message {i} is not a {{role, content}} chat message"
    if prompt[-1]["role"] != "user":
        return f"missing prompt: the prompt ends with a {prompt[-1]['role']} turn, not a user turn"
    if any(m["role"] == "user" and not m["content"].strip() for m in prompt):
        return "missing prompt: a user turn is blank"
    return ""


def make_pair(*, id: str, source: str, task: str, prompt: list[dict], chosen: str, rejected: str,
              origin_ids: list[str] | None = None) -> dict[str, Any]:
    return {"id": id, "source": source, "task": task, "prompt": json.dumps(prompt, ensure_ascii=False),
            "chosen": chosen, "rejected": rejected, "origin_ids": json.dumps(sorted(origin_ids or [id]))}


def prompt_of(pair: dict[str, Any]) -> list[dict[str, Any]]:
    p = pair["prompt"]
    return json.loads(p) if isinstance(p, str) else list(p)


def prompt_text(prompt: list[dict[str, Any]]) -> str:
    """The prompt's text (tool calls included), for deduplication and leak checks."""
    parts = []
    for m in prompt:
        parts.append(str(m.get("content", "")))
        calls = m.get("tool_calls") or []
        parts += [json.dumps(c.get("function", c), ensure_ascii=False, sort_keys=True) for c in calls]
    return "\n".join(parts)


def fold(text: str) -> str:
    """Case and whitespace folded: how two prompts are compared for being the same question."""
    return re.sub(r"\s+", " ", text).strip().casefold()


_TURN = re.compile(r"(?:^|\n\n)\[(" + "|".join(ROLES) + r")\]\n")


def parse_prompt_text(text: str) -> list[dict[str, str]]:
    """Messages back from ``evaluator.prompt_text`` ("[role]\\ncontent" turns joined by blank lines), the form a
    rating sheet shows its prompt in; [] when the text is not in that form."""
    if not isinstance(text, str) or not _TURN.match(text):
        return []
    marks = list(_TURN.finditer(text))
    return [{"role": m.group(1), "content": text[m.end():marks[k + 1].start() if k + 1 < len(marks) else len(text)]}
            for k, m in enumerate(marks)]
