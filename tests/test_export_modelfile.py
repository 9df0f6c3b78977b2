"""The Ollama Modelfile says what the chat template says: the same conversation renders to the same text."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.export.chat_parts import ChatTemplateUnsupported, chat_parts, tokenizer_renderer
from resources.export.modelfile import ModelfileError, modelfile
from tests.go_template import ollama_messages, render

# SmolLM2-Instruct's own template (ChatML with a default system prompt), as its GGUF ships it
CHATML_DEFAULT_SYSTEM = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

S = {"role": "system", "content": "You answer for the Nordlicht shop.\nBe brief."}
U1 = {"role": "user", "content": 'Where is order "A-1234"?\n  It was due on Monday.'}
A1 = {"role": "assistant", "content": "It shipped yesterday; tracking: NL-99 {{ .Content }}."}
U2 = {"role": "user", "content": "Thanks! And the invoice?"}
CHATS = [[U1], [S, U1], [S, U1, A1, U2], [U1, A1, U2], [{"role": "user", "content": ""}]]


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir):
    from resources.model.loading import load_tokenizer

    tiny = load_tokenizer(tiny_model_dir)
    chatml = load_tokenizer(tiny_model_dir)
    chatml.chat_template = CHATML_DEFAULT_SYSTEM
    return {"tiny": tiny, "chatml": chatml}


def _template_and_system(text: str) -> tuple[str, str | None]:
    template = re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M)[1]
    system = re.search(r'^SYSTEM """(.*?)"""$', text, re.S | re.M)
    return template, system[1] if system else None


@pytest.mark.parametrize("name", ["tiny", "chatml"])
def test_the_modelfile_template_renders_every_chat_as_the_chat_template_does(tokenizers, name):
    tok = tokenizers[name]
    parts = chat_parts(tokenizer_renderer(tok))
    text = modelfile("m.gguf", parts, [parts.end_of_turn(tok.all_special_tokens)], "Apache-2.0", "test")
    template, system = _template_and_system(text)
    for chat in CHATS:
        expected = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        assert render(template, ollama_messages(chat, system)) == expected, chat
    # a chat ending with the assistant's turn is continued by Ollama, so that turn stays open
    open_turn = tok.apply_chat_template([S, U1, A1], tokenize=False, add_generation_prompt=False)
    closed = parts.suffix["assistant"]
    assert render(template, ollama_messages([S, U1, A1], system)) + closed == open_turn


def test_the_stop_tokens_and_system_prompt_come_from_the_template(tokenizers):
    tiny = chat_parts(tokenizer_renderer(tokenizers["tiny"]))
    chatml = chat_parts(tokenizer_renderer(tokenizers["chatml"]))
    assert tiny.end_of_turn(tokenizers["tiny"].all_special_tokens) == "<|end|>"
    assert tiny.head == "<s>" and tiny.default_system is None
    assert chatml.end_of_turn(["<|im_start|>", "<|im_end|>"]) == "<|im_end|>"
    assert chatml.default_system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    text = modelfile("nordlicht-v-1-q8_0.gguf", chatml, ["<|im_end|>", "<|im_end|>", "<|endoftext|>"],
                     "Apache-2.0 (HuggingFaceTB)", "nordlicht v-1")
    assert "FROM ./nordlicht-v-1-q8_0.gguf\n" in text
    assert re.findall(r'^PARAMETER stop "(.*)"$', text, re.M) == ["<|im_end|>", "<|endoftext|>"]
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in text
    assert text.rstrip().endswith('LICENSE """Apache-2.0 (HuggingFaceTB)"""')


def test_a_template_that_is_not_per_role_pieces_is_refused(tokenizers):
    tok = tokenizers["tiny"]
    # the first user turn is written differently from later ones: no single user prefix says that
    odd = ("{% for m in messages %}{% if loop.first and m['role'] == 'user' %}FIRST {% endif %}"
           "<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
           "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    tok.chat_template, saved = odd, tok.chat_template
    try:
        with pytest.raises(ChatTemplateUnsupported, match="not the same for every turn|differ from the template"):
            chat_parts(tokenizer_renderer(tok))
        tok.chat_template = "{% for m in messages %}{{ m['content'] }}{{ m['content'] }}{% endfor %}"
        with pytest.raises(ChatTemplateUnsupported, match="exactly once"):
            chat_parts(tokenizer_renderer(tok))
    finally:
        tok.chat_template = saved


def test_values_a_modelfile_cannot_hold_are_refused(tokenizers):
    parts = chat_parts(tokenizer_renderer(tokenizers["tiny"]))
    with pytest.raises(ModelfileError, match="triple quote"):
        modelfile("m.gguf", parts, ["<|end|>"], 'says """hi"""', "t")
    with pytest.raises(ModelfileError, match="whitespace"):
        modelfile("my model.gguf", parts, ["<|end|>"], "MIT", "t")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(st.text(max_size=40), min_size=1, max_size=5), system=st.none() | st.text(max_size=30))
def test_any_chat_contents_render_alike_in_both_templates(tokenizers, contents, system):
    """Contents come from users: quotes, braces, newlines and template syntax must pass through unchanged."""
    tok = tokenizers["chatml"]
    parts = chat_parts(tokenizer_renderer(tok))
    template, default = _template_and_system(modelfile("m.gguf", parts, ["<|im_end|>"], "MIT", "t"))
    chat = [{"role": "system", "content": system}] if system is not None else []
    chat += [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(contents)]
    if chat[-1]["role"] == "assistant":
        chat.append({"role": "user", "content": "?"})
    expected = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert render(template, ollama_messages(chat, default)) == expected


def test_a_template_that_trims_contents_gets_no_ollama_template(tokenizers):
    tok = tokenizers["tiny"]
    trims = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] | trim }}<|end|>{% endfor %}"
             "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    tok.chat_template, saved = trims, tok.chat_template
    try:
        with pytest.raises(ChatTemplateUnsupported, match="differ from the template"):
            chat_parts(tokenizer_renderer(tok))
    finally:
        tok.chat_template = saved
