"""The project's default chat template, used for the built-in model and for any tokenizer without one.

Assistant turns are wrapped in ``{% generation %}`` so ``apply_chat_template(..., return_assistant_tokens_mask=True)``
marks exactly the tokens the loss is computed on. Tool calls sit inside that block, because emitting the call is
what a tool-using model must learn; tool results (the ``tool`` role) sit outside it, like user turns, because the
tool, not the model, writes them.

Tool use (canonical form in ``resources/sources/tool_calls.py``): each call on an assistant turn becomes
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` after the turn's text, on its own line when text or
another call precedes it; a tool result is a ``<|tool|>`` turn. A chat without tool calls renders byte for byte as
before tool support existed (tests/test_tool_use_prep.py holds that rendering), so datasets, token counts and
trained adapters of plain chats do not change. The markers are plain text, not special tokens: adding tokens
would change the built-in model's vocabulary and with it every seeded weight.
"""

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS = ["<|pad|>", "<s>", END, SYSTEM, USER, ASSISTANT]
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"

DEFAULT_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "<|assistant|>\n{% generation %}{{ m['content'] }}"
    # '\n' as an expression: the environment's trim_blocks would swallow a literal newline after a tag
    "{%- for c in m['tool_calls'] or [] -%}"
    "{% if m['content'] or not loop.first %}{{ '\\n' }}{% endif %}"
    "<tool_call>{{ {'name': c['function']['name'], 'arguments': c['function']['arguments']} | tojson }}</tool_call>"
    "{%- endfor -%}"
    "<|end|>{% endgeneration %}\n"
    "{%- else -%}"
    "<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|assistant|>\n{% endif -%}"
)
