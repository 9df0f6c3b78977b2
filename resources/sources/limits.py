"""What every kept example must be free of, whatever format it came in: deep nesting and characters no model
should learn.

- Nesting deeper than ``MAX_DEPTH`` (a JSON value like ``[[[[...]]]]`` in an annotation or a tool call): later
  stages walk values recursively, so one such row would stop the whole run with a RecursionError.
- NUL characters: no text a person wrote holds one; they come from binary data pasted into a field.
- Lone surrogates (``"\\ud800"`` in JSON, or bytes that were not UTF-8): they cannot be stored as UTF-8, and
  writing them would silently turn them into ``?``.

Both walks are iterative, so the check itself cannot overflow the stack.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)
    return False


def _strings(value: Any):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def bad_characters(value: Any) -> str:
    """The ledger reason when a string in ``value`` holds a NUL or a lone surrogate, else ""."""
    for text in _strings(value):
        if "\0" in text:
            return "invalid characters: a NUL character (U+0000); was binary data pasted into a text field?"
        if m := _SURROGATE.search(text):
            return (f"invalid characters: a lone surrogate U+{ord(m.group()):04X} (not UTF-8, or a broken \\u "
                    f"escape in JSON)")
    return ""


def limit_reason(*values: Any) -> str:
    """Why a kept example breaks a limit ("" when none)."""
    if any(too_deep(v) for v in values):
        return f"too deeply nested: a value nests deeper than {MAX_DEPTH} levels"
    for v in values:
        if why := bad_characters(v):
            return why
    return ""
