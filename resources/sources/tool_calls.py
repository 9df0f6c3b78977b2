"""OpenAI-style tool use in a conversation: assistant ``tool_calls`` and ``tool`` result messages, made canonical.

Canonical form (what ``resources/schema.py`` stores in the messages JSON):

- an assistant turn may carry ``"tool_calls": [{"id"?, "type": "function", "function": {"name", "arguments"}}]``;
  ``arguments`` is a JSON object (a dict), not the JSON *string* the OpenAI API sends, because Hugging Face chat
  templates render it with ``| tojson`` and a string would come out double-encoded;
- a tool result is ``{"role": "tool", "content", "tool_call_id"?, "name"?}`` and must follow a call it answers.

Flat calls (``{"name", "arguments"}`` without the ``function`` wrapper, as some exports write them) are accepted and
wrapped. Whether the base model's chat template can render tool use is decided later, where the tokenizer is known
(``resources/model/tool_rendering.py``).
"""

from __future__ import annotations

import json
from typing import Any

from resources.sources.reasons import FormatError, quoted


def _parsed(value: Any, what: str) -> Any:
    """A JSON string decoded (OpenAI's API sends arguments as text); anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError) as e:
        raise FormatError(f"invalid tool call: {what} not JSON ({e})"[:300]) from None


def _arguments(value: Any, where: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    value = _parsed(value, f"{where} arguments are")
    if not isinstance(value, dict):
        raise FormatError(f"invalid tool call: {where} arguments are {type(value).__name__}, not a JSON object")
    return value


def tool_call(call: Any, where: str) -> dict[str, Any]:
    """One call in canonical form; FormatError says what is wrong with it."""
    if not isinstance(call, dict):
        raise FormatError(f"invalid tool call: {where} is {type(call).__name__}, not an object")
    kind = call.get("type") or "function"
    if kind != "function":
        raise FormatError(f"invalid tool call: {where} has type {kind!r}; only function calls are supported")
    function = call.get("function") if call.get("function") is not None else call
    if not isinstance(function, dict):
        raise FormatError(f"invalid tool call: {where} function is {type(function).__name__}, not an object")
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FormatError(f"invalid tool call: {where} has no function name")
    out: dict[str, Any] = {"type": "function",
                           "function": {"name": name, "arguments": _arguments(function.get("arguments"), where)}}
    call_id = call.get("id")
    if call_id is not None and call_id != "":
        if not isinstance(call_id, str):
            raise FormatError(f"invalid tool call: {where} id is {type(call_id).__name__}, not a string")
        out = {"id": call_id, **out}
    return out


def tool_calls(value: Any, index: int) -> list[dict[str, Any]]:
    """The canonical ``tool_calls`` of message ``index``; an empty or missing list means no calls."""
    if value is None:
        return []
    value = _parsed(value, f"message {index} tool_calls is")
    if not isinstance(value, list):
        raise FormatError(f"invalid tool call: message {index} tool_calls is {type(value).__name__}, not a list")
    return [tool_call(c, f"message {index} call {k}") for k, c in enumerate(value)]


def tool_result(message: dict[str, Any], index: int, call_ids: set[str], calls_seen: int) -> dict[str, Any]:
    """A ``tool`` message in canonical form; it must answer a call made earlier in the conversation."""
    if calls_seen == 0:
        raise FormatError(f"orphan tool result: message {index} answers no earlier assistant tool call")
    content = message.get("content")
    if isinstance(content, (dict, list)):
        content = json.dumps(content, ensure_ascii=False)  # structured results, as some exports store them
    if not isinstance(content, str):
        raise FormatError(f"wrong type: message {index} content is {type(content).__name__}, not a string")
    out: dict[str, Any] = {"role": "tool", "content": content}
    call_id = message.get("tool_call_id")
    if call_id is not None and call_id != "":
        if not isinstance(call_id, str):
            raise FormatError(f"wrong type: message {index} tool_call_id is {type(call_id).__name__}, not a string")
        if call_ids and call_id not in call_ids:
            raise FormatError(f"orphan tool result: message {index} answers tool_call_id {quoted(call_id)!r}, "
                              f"which no earlier call has")
        out["tool_call_id"] = call_id
    name = message.get("name")
    if isinstance(name, str) and name:
        out["name"] = name
    return out
