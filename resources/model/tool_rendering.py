"""Can the base model's chat template render tool use? Decided where the tokenizer is known (trim, training).

Source readers keep OpenAI-style tool calls in the canonical messages (``resources/sources/tool_calls.py``), but
many chat templates silently drop ``tool_calls`` or the ``tool`` role (the project's default template renders both:
``resources/model/chat_template.py``), and training on such a rendering would teach the model answers to questions
it never saw. So a template is probed once with a conversation whose function name, argument and tool result are
unique markers: it supports tools only if all three come out in the rendered text. Examples that use tools are
rejected with a clear reason on a template that does not.
"""

from __future__ import annotations

from typing import Any

_NAME, _ARG, _RESULT = "privft_probe_function", "privft_probe_argument", "privft_probe_result"
PROBE = [
    {"role": "user", "content": "Look it up."},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": _NAME, "arguments": {_ARG: 1}}}]},
    {"role": "tool", "content": _RESULT, "tool_call_id": "call_0", "name": _NAME},
    {"role": "assistant", "content": "Found it."},
]
_verdicts: dict[str, str | None] = {}  # chat template text -> why it cannot render tools (None: it can)


def uses_tools(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)


def _render(tokenizer, messages: list[dict[str, Any]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False)


def template_tool_support(tokenizer) -> str | None:
    """None when the tokenizer's chat template renders tool calls and tool results; otherwise why not."""
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else repr(tokenizer.chat_template)
    if template not in _verdicts:
        try:
            text = _render(tokenizer, PROBE)
        except Exception as e:  # noqa: BLE001 - templates raise_exception() on roles they do not know
            _verdicts[template] = f"template raises {type(e).__name__}: {e}"[:200]
        else:
            lost = [what for what, marker in (("tool calls", _NAME), ("tool call arguments", _ARG),
                                               ("tool results", _RESULT)) if marker not in text]
            _verdicts[template] = f"template drops {', '.join(lost)}" if lost else None
    return _verdicts[template]


def tool_rendering_problem(tokenizer, messages: list[dict[str, Any]]) -> str | None:
    """The rejection reason for an example that uses tools the base model's chat template cannot render, else None.

    Reasons follow the ledger convention (category, then ": detail").
    """
    if not uses_tools(messages):
        return None
    why = template_tool_support(tokenizer)
    if why is None:
        try:
            _render(tokenizer, messages)
            return None
        except Exception as e:  # noqa: BLE001 - e.g. a template that insists on strictly alternating roles
            why = f"template raises {type(e).__name__}: {e}"[:200]
    return (f"tools unsupported: the base model's chat template cannot render this tool use ({why}); "
            f"choose a base model whose template supports tools, or leave tool conversations out of this source")
