"""How a fixed prompt becomes token ids: the one encoding shared by merge verification, its fresh process and
smoke inference, so the merged model and base+adapter are always asked exactly the same thing.

A prompt is either a plain string (asked as one user turn) or a list of ``{role, content}`` messages. Both go
through the tokenizer's chat template with the generation prompt appended, as the fine-tuned model is used.
This module imports nothing heavy and nothing from peft: the fresh verification process imports it.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

Prompt = Union[str, Sequence[dict]]

DEFAULT_PROMPTS: tuple[str, ...] = (
    "Where is my order A-1234? It was due three days ago.",
    "Summarise: the customer asked for a refund of the invoice total and a new delivery address.",
    "What is the return policy for items bought online?",
)


def as_messages(prompt: Prompt) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def encode_prompt(tokenizer: Any, prompt: Prompt) -> list[int]:
    text = tokenizer.apply_chat_template(as_messages(prompt), add_generation_prompt=True, tokenize=False)
    # The template already writes the BOS token; adding special tokens again would double it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_label(prompt: Prompt) -> str:
    """The text a report shows for a prompt: its last user message."""
    users = [m["content"] for m in as_messages(prompt) if m.get("role") == "user"]
    return users[-1] if users else str(prompt)
