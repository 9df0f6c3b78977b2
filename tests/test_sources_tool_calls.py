"""OpenAI-style tool use: kept in the canonical messages, rendered only by chat templates that support it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.model.tiny import build_tokenizer
from resources.model.tool_rendering import template_tool_support, tool_rendering_problem
from resources.schema import example_text
from resources.sources.formats import FormatError, to_messages
from resources.sources.ingest import ingest

CALL = {"id": "call_1", "type": "function",
        "function": {"name": "order_status", "arguments": json.dumps({"order_id": "NH-7"})}}
TOOL_CHAT = [
    {"role": "user", "content": "Where is NH-7?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    {"role": "assistant", "content": "NH-7 has shipped."},
]
CANONICAL_CALL = {"id": "call_1", "type": "function",
                  "function": {"name": "order_status", "arguments": {"order_id": "NH-7"}}}

# A template in the style of Qwen/Llama 3.1: assistant calls as <tool_call> JSON, tool results in their own turn.
TOOLS_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' and m.get('tool_calls') -%}<|assistant|>\n"
    "{%- for c in m['tool_calls'] -%}<tool_call>{\"name\": \"{{ c['function']['name'] }}\", "
    "\"arguments\": {{ c['function']['arguments'] | tojson }}}</tool_call>{%- endfor -%}<|end|>\n"
    "{%- elif m['role'] == 'assistant' -%}<|assistant|>\n{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}\n"
    "{%- else -%}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{%- endif -%}"
    "{%- endfor -%}"
)


def test_tool_calls_and_results_are_kept_in_canonical_form(tmp_path):
    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps({"messages": TOOL_CHAT, "task": "order_status", "score": 0.9}) + "\n")
    summary = ingest("teacher_synthetic", "tools.jsonl", [path], tmp_path / "out")
    assert summary.kept == 1, summary.rejected
    msgs = json.loads(pd.read_parquet(summary.examples_path)["messages"][0])
    assert msgs[1] == {"role": "assistant", "content": "", "tool_calls": [CANONICAL_CALL]}
    assert msgs[2] == {"role": "tool", "content": '{"status": "shipped"}', "tool_call_id": "call_1"}
    assert msgs[3] == TOOL_CHAT[3]
    # deduplication and leak checks compare the call's arguments too
    assert "NH-7" in example_text({"messages": json.dumps(msgs[:2])})


def test_flat_calls_and_structured_tool_results_are_normalised():
    flat = [TOOL_CHAT[0], {"role": "assistant", "tool_calls": [{"name": "order_status",
                                                                 "arguments": {"order_id": "NH-7"}}]},
            {"role": "tool", "content": {"status": "shipped"}}, TOOL_CHAT[3]]
    msgs = to_messages({"messages": flat})
    assert msgs[1]["tool_calls"] == [{"type": "function",
                                      "function": {"name": "order_status", "arguments": {"order_id": "NH-7"}}}]
    assert msgs[2] == {"role": "tool", "content": '{"status": "shipped"}'}


@pytest.mark.parametrize("change, reason", [
    (lambda c: [c[0], c[2], c[3]], "orphan tool result: message 1 answers no earlier assistant tool call"),
    (lambda c: [c[0], c[1], {**c[2], "tool_call_id": "call_9"}, c[3]], "orphan tool result: message 2 answers"),
    (lambda c: c[:2], "no final answer: the last assistant message calls tools"),
    (lambda c: [{**c[0], "tool_calls": [CALL]}, *c[1:]], "invalid tool call: message 0 from user has tool_calls"),
    (lambda c: [c[0], {**c[1], "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "{oops"}}]},
                *c[2:]], "invalid tool call: message 1 call 0 arguments are not JSON"),
    (lambda c: [c[0], {**c[1], "tool_calls": [{"function": {"arguments": "{}"}}]}, *c[2:]],
     "invalid tool call: message 1 call 0 has no function name"),
    (lambda c: [c[0], {**c[1], "tool_calls": [{**CALL, "type": "retrieval"}]}, *c[2:]],
     "invalid tool call: message 1 call 0 has type 'retrieval'"),
])
def test_malformed_tool_use_is_rejected_with_a_reason(change, reason):
    with pytest.raises(FormatError, match=f"^{reason}"):
        to_messages({"messages": change(TOOL_CHAT)})


part = st.one_of(st.none(), st.text(max_size=8), st.integers(), st.lists(st.text(max_size=4), max_size=2),
                 st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))
call = st.fixed_dictionaries({}, optional={"id": part, "type": st.sampled_from(["function", "other"]) | part,
                                           "function": st.fixed_dictionaries({}, optional={"name": part,
                                                                                          "arguments": part}) | part,
                                           "name": part, "arguments": part})
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool", "system"]),
                                 "content": part},
                                optional={"tool_calls": st.lists(call, max_size=2) | part, "tool_call_id": part})


@settings(max_examples=200, deadline=None, database=None)
@given(messages=st.lists(message, min_size=1, max_size=5))
def test_any_tool_use_either_fails_with_a_reason_or_comes_out_canonical(messages):
    try:
        out = to_messages({"messages": messages})
    except FormatError as e:
        assert ": " in str(e) or str(e) == "no user message"
        return
    json.dumps(out)  # storable as the messages JSON
    calls_before = 0
    for m in out:
        assert isinstance(m["content"], str)
        assert set(m) <= {"role", "content", "tool_calls", "tool_call_id", "name"}
        if m["role"] == "tool":
            assert calls_before > 0
        for c in m.get("tool_calls", []):
            assert m["role"] == "assistant" and c["type"] == "function"
            assert c["function"]["name"].strip() and isinstance(c["function"]["arguments"], dict)
        calls_before += len(m.get("tool_calls", []))
    assert out[-1]["role"] == "assistant" and out[-1]["content"].strip() and "tool_calls" not in out[-1]


# --- rendering through the base model's chat template ------------------------------------------------------------

def test_template_that_drops_tool_calls_rejects_tool_examples():
    tokenizer = build_tokenizer([])
    tokenizer.chat_template = ("{%- for m in messages -%}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
                               "{%- endfor -%}")  # renders only content, as the default template once did
    canonical = to_messages({"messages": TOOL_CHAT})
    assert template_tool_support(tokenizer) == "template drops tool calls, tool call arguments"
    reason = tool_rendering_problem(tokenizer, canonical)
    assert reason.startswith("tools unsupported: the base model's chat template cannot render this tool use")
    assert tool_rendering_problem(tokenizer, [TOOL_CHAT[0], TOOL_CHAT[3]]) is None  # plain chats are unaffected


def test_template_with_tool_support_renders_calls_and_results():
    tok = build_tokenizer([])
    tok.chat_template = TOOLS_TEMPLATE
    canonical = to_messages({"messages": TOOL_CHAT})
    assert template_tool_support(tok) is None and tool_rendering_problem(tok, canonical) is None
    text = tok.apply_chat_template(canonical, tokenize=False)
    assert '"name": "order_status", "arguments": {"order_id": "NH-7"}' in text and '{"status": "shipped"}' in text


def test_template_that_raises_on_the_tool_role_is_a_reason_not_a_crash():
    tok = build_tokenizer([])
    tok.chat_template = ("{%- for m in messages -%}{%- if m['role'] == 'tool' -%}"
                         "{{ raise_exception('Only user and assistant roles are supported') }}{%- endif -%}"
                         "{{ m['content'] }}{%- endfor -%}")
    reason = tool_rendering_problem(tok, to_messages({"messages": TOOL_CHAT}))
    assert "Only user and assistant roles are supported" in reason
