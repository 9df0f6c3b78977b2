"""Turn a raw record in one of the common fine-tuning formats into validated chat messages.

Formats (configured per source, or ``auto`` to recognise each record by its keys):

- ``chat``: ``{"messages": [{"role", "content"}, ...]}``
- ``alpaca``: ``{"instruction", "input"?, "output", "system"?}``
- ``prompt_completion``: ``{"prompt", "completion"}``
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}``

A valid conversation has known roles, string contents, at least one user turn, and ends with a non-empty
assistant answer (the reference every later stage trains and evaluates on). ``messages``/``conversations`` may also
be a JSON string (a CSV cell, a Parquet string column). Tool use (assistant ``tool_calls``, ``tool`` results) is
kept in canonical form, see ``resources/sources/tool_calls.py``.
"""

from __future__ import annotations

import json
from typing import Any

from resources.schema import ROLES
from resources.sources.reasons import FormatError
from resources.sources.tool_calls import tool_calls, tool_result

FORMATS = ("chat", "alpaca", "prompt_completion", "sharegpt")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


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


def to_messages(record: dict[str, Any], fmt: str = "auto") -> list[dict[str, Any]]:
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


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise FormatError("wrong type: messages must be a non-empty list")
    out: list[dict[str, Any]] = []
    call_ids: set[str] = set()
    calls_seen = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise FormatError(f"wrong type: message {i} is {type(m).__name__}, not an object")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise FormatError(f"invalid role: message {i} has role {role!r}; expected one of {', '.join(ROLES)}")
        if role == "tool":
            out.append(tool_result(m, i, call_ids, calls_seen))
            continue
        calls = tool_calls(m.get("tool_calls"), i)
        if calls and role != "assistant":
            raise FormatError(f"invalid tool call: message {i} from {role} has tool_calls; "
                              f"only assistant turns call tools")
        if calls and content is None:
            content = ""  # a turn that only calls tools has no text (the OpenAI API sends null)
        if not isinstance(content, str):
            raise FormatError(f"wrong type: message {i} content is {type(content).__name__}, not a string")
        if role == "user" and not content.strip():
            raise FormatError(f"empty message: user message {i} is empty; a prompt must ask something")
        out.append({"role": role, "content": content, **({"tool_calls": calls} if calls else {})})
        calls_seen += len(calls)
        call_ids.update(c["id"] for c in calls if "id" in c)
    if not any(m["role"] == "user" for m in out):
        raise FormatError("no user message")
    if out[-1]["role"] != "assistant":
        raise FormatError(f"no final answer: last message is from {out[-1]['role']}, not the assistant")
    if out[-1].get("tool_calls"):
        raise FormatError("no final answer: the last assistant message calls tools; end with the answer given "
                          "after the tool results")
    if not out[-1]["content"].strip():
        raise FormatError("empty answer: final assistant message is empty")
    return out


def _json_list(record: dict[str, Any], key: str) -> Any:
    """``record[key]``, decoded when a CSV cell or Parquet string column holds the list as JSON text."""
    value = record[key]
    # plain prose in the field is a wrong type, not broken JSON: say so rather than quote a parser error
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError) as e:
            raise FormatError(f"invalid JSON: {key}: {e}"[:300]) from None
    return value


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
    return _json_list(record, "messages")


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
    if "conversations" not in record:
        raise FormatError("missing field: conversations")
    turns = _json_list(record, "conversations")
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
