"""The project's default chat template, used for the built-in model and for any tokenizer without one.

Assistant turns are wrapped in ``{% generation %}`` so ``apply_chat_template(..., return_assistant_tokens_mask=True)``
marks exactly the tokens the loss is computed on.
"""

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS = ["<|pad|>", "<s>", END, SYSTEM, USER, ASSISTANT]

DEFAULT_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "<|assistant|>\n{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}\n"
    "{%- else -%}"
    "<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|assistant|>\n{% endif -%}"
)
