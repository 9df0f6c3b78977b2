"""Tool use through the built-in chat template: plain chats render as before, tool calls render and are trained on."""

from __future__ import annotations

import pytest

from resources.model.chat_template import DEFAULT_CHAT_TEMPLATE
from resources.model.tiny import build_tokenizer
from resources.model.tool_rendering import template_tool_support, tool_rendering_problem
from resources.training.chat_tokens import IGNORE, tokenize_chat

PLAIN = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Where is A-1?"},
         {"role": "assistant", "content": "Shipped."}, {"role": "user", "content": "And {{ refund }}? é"},
         {"role": "assistant", "content": ""}]
# Captured from the template before tool support was added: plain chats must keep rendering to exactly this.
PLAIN_TEXT = ("<s><|system|>\nYou answer briefly.<|end|><|user|>\nWhere is A-1?<|end|><|assistant|>\nShipped.<|end|>"
              "<|user|>\nAnd {{ refund }}? é<|end|><|assistant|>\n<|end|>")
PROMPT_TEXT = ("<s><|system|>\nYou answer briefly.<|end|><|user|>\nWhere is A-1?<|end|><|assistant|>\nShipped.<|end|>"
               "<|user|>\nAnd {{ refund }}? é<|end|><|assistant|>\n")


def _call(name, arguments, id_=None):
    return {**({"id": id_} if id_ else {}), "type": "function", "function": {"name": name, "arguments": arguments}}


TOOL_CHAT = [
    {"role": "user", "content": "Where is NH-7?"},
    {"role": "assistant", "content": "Checking.", "tool_calls": [_call("order_status", {"order_id": "NH-7"}, "c1"),
                                                                 _call("carrier", {"q": {"ids": [7, 8]}})]},
    {"role": "tool", "content": "in transit", "tool_call_id": "c1"},
    {"role": "tool", "content": "DHL"},
    {"role": "assistant", "content": "", "tool_calls": [_call("eta", {})]},
    {"role": "tool", "content": "Friday"},
    {"role": "assistant", "content": "NH-7 arrives Friday with DHL."},
]
TOOL_TEXT = ('<s><|user|>\nWhere is NH-7?<|end|><|assistant|>\nChecking.\n'
             '<tool_call>{"name": "order_status", "arguments": {"order_id": "NH-7"}}</tool_call>\n'
             '<tool_call>{"name": "carrier", "arguments": {"q": {"ids": [7, 8]}}}</tool_call><|end|>'
             '<|tool|>\nin transit<|end|><|tool|>\nDHL<|end|>'
             '<|assistant|>\n<tool_call>{"name": "eta", "arguments": {}}</tool_call><|end|>'
             '<|tool|>\nFriday<|end|><|assistant|>\nNH-7 arrives Friday with DHL.<|end|>')


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer([])


def test_plain_chats_render_byte_for_byte_as_before(tok):
    assert tok.apply_chat_template(PLAIN, tokenize=False) == PLAIN_TEXT
    assert tok.apply_chat_template(PLAIN[:4], tokenize=False, add_generation_prompt=True) == PROMPT_TEXT
    # an explicit empty tool_calls list is a plain turn too
    with_empty = [{**m, "tool_calls": []} if m["role"] == "assistant" else m for m in PLAIN]
    assert tok.apply_chat_template(with_empty, tokenize=False) == PLAIN_TEXT


def test_builtin_template_renders_tool_calls_and_results(tok):
    assert tok.apply_chat_template(TOOL_CHAT, tokenize=False) == TOOL_TEXT
    assert template_tool_support(tok) is None and tool_rendering_problem(tok, TOOL_CHAT) is None


def test_loss_covers_tool_calls_and_answers_but_not_tool_results(tok):
    doc = tokenize_chat(tok, TOOL_CHAT, 512)
    trained = tok.decode([t for t in doc.labels if t != IGNORE])
    assert trained == ('Checking.\n<tool_call>{"name": "order_status", "arguments": {"order_id": "NH-7"}}</tool_call>\n'
                       '<tool_call>{"name": "carrier", "arguments": {"q": {"ids": [7, 8]}}}</tool_call><|end|>'
                       '<tool_call>{"name": "eta", "arguments": {}}</tool_call><|end|>'
                       'NH-7 arrives Friday with DHL.<|end|>')


def test_templates_without_generation_markers_find_the_same_tool_call_turns(tok):
    plain = build_tokenizer([])
    plain.chat_template = DEFAULT_CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    marked, prefixed = tokenize_chat(tok, TOOL_CHAT, 512), tokenize_chat(plain, TOOL_CHAT, 512)
    assert prefixed.input_ids == marked.input_ids
    marked_at = {k for k, t in enumerate(marked.labels) if t != IGNORE}
    prefixed_at = {k for k, t in enumerate(prefixed.labels) if t != IGNORE}
    # the prefix method also trains on the newline after each <|assistant|> header; nothing else may differ
    assert marked_at <= prefixed_at
    assert tok.decode([prefixed.input_ids[k] for k in sorted(prefixed_at - marked_at)]).strip() == ""
