"""Turn a raw record in one of the common fine-tuning formats into validated chat messages.

Formats (configured per source, or ``auto`` to recognise each record by its keys):

- ``chat``: ``{"messages": [{"role", "content"}, ...]}``
- ``alpaca``: ``{"instruction", "input"?, "output", "system"?}``
- ``prompt_completion``: ``{"prompt", "completion"}``
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}``

A valid conversation has known roles, string contents, at least one user turn, and ends with a non-empty
assistant answer (the reference every later stage trains and evaluates on).
"""

from __future__ import annotations

from typing import Any

from resources.schema import ROLES

FORMATS = ("chat", "alpaca", "prompt_completion", "sharegpt")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


class FormatError(ValueError):
    """The record cannot become a valid conversation; the message is the ledger reason."""


def detect_format(record: dict[str, Any]) -> str | None:
    if "messages" in record:
        return "chat"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if "prompt" in record and "completion" in record:
        return "prompt_completion"
    return None


def to_messages(record: dict[str, Any], fmt: str = "auto") -> list[dict[str, str]]:
    """Validated messages of ``record`` read as ``fmt``; raises FormatError with the reason otherwise."""
    if fmt == "auto":
        detected = detect_format(record)
        if detected is None:
            keys = ", ".join(sorted(map(str, record))[:8])
            raise FormatError(f"unknown format: no messages/conversations/instruction+output/prompt+completion "
                              f"(keys: {keys})")
        fmt = detected
    if fmt == "chat":
        messages = _chat(record)
    elif fmt == "alpaca":
        messages = _alpaca(record)
    elif fmt == "prompt_completion":
        messages = [{"role": "user", "content": _text(record, "prompt")},
                    {"role": "assistant", "content": _text(record, "completion", allow_empty=True)}]
    elif fmt == "sharegpt":
        messages = _sharegpt(record)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}")
    return validate_messages(messages)


def validate_messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise FormatError("wrong type: messages must be a non-empty list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise FormatError(f"wrong type: message {i} is {type(m).__name__}, not an object")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise FormatError(f"invalid role: message {i} has role {role!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise FormatError(f"wrong type: message {i} content is {type(content).__name__}, not a string")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" for m in out):
        raise FormatError("no user message")
    if out[-1]["role"] != "assistant":
        raise FormatError(f"no final answer: last message is from {out[-1]['role']}, not the assistant")
    if not out[-1]["content"].strip():
        raise FormatError("empty answer: final assistant message is empty")
    return out


def _text(record: dict[str, Any], key: str, allow_empty: bool = False) -> str:
    if key not in record or record[key] is None:
        raise FormatError(f"missing field: {key}")
    value = record[key]
    if not isinstance(value, str):
        raise FormatError(f"wrong type: {key} is {type(value).__name__}, not a string")
    if not allow_empty and not value.strip():
        raise FormatError(f"missing field: {key} is empty")
    return value


def _chat(record: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in record:
        raise FormatError("missing field: messages")
    return record["messages"]


def _alpaca(record: dict[str, Any]) -> list[dict[str, str]]:
    instruction = _text(record, "instruction")
    extra = record.get("input") or ""
    if not isinstance(extra, str):
        raise FormatError(f"wrong type: input is {type(extra).__name__}, not a string")
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages = [{"role": "user", "content": user},
                {"role": "assistant", "content": _text(record, "output", allow_empty=True)}]
    if record.get("system"):
        messages.insert(0, {"role": "system", "content": _text(record, "system")})
    return messages


def _sharegpt(record: dict[str, Any]) -> list[dict[str, Any]]:
    turns = record.get("conversations")
    if not isinstance(turns, list):
        raise FormatError(f"wrong type: conversations is {type(turns).__name__}, not a list")
    out = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict):
            raise FormatError(f"wrong type: turn {i} is {type(t).__name__}, not an object")
        who = t.get("from")
        if not isinstance(who, str) or who not in SHAREGPT_ROLES:
            raise FormatError(f"invalid role: turn {i} is from {who!r}; expected human, gpt or system")
        out.append({"role": SHAREGPT_ROLES[who], "content": t.get("value")})
    return out
