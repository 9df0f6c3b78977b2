"""``privft serve``: the OpenAI-compatible endpoint, driven by the official ``openai`` client on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

MODEL = "support:v-test"


@pytest.fixture(scope="module")
def chat(smollm2_dir):
    import torch

    from resources.serving.batcher import ChatModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = ChatModel(smollm2_dir, max_batch=8, batch_window_s=0.05, device="cpu")
    yield model
    model.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def url(chat):
    from resources.serving.api import create_app
    from resources.serving.server import BackgroundServer

    with BackgroundServer(create_app(chat, [MODEL, "support"])) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(url):
    from openai import OpenAI

    return OpenAI(base_url=url, api_key="none", max_retries=0)


def ask(client, question: str, **kwargs):
    kwargs = {"max_tokens": 12, "temperature": 0, **kwargs}
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}], **kwargs)


def plain_generate(chat, question: str, max_new_tokens: int) -> str:
    """What transformers answers on its own, greedily, for the same messages: the endpoint must match it."""
    import torch

    from resources.publishing.prompts import encode_prompt

    ids = torch.tensor([encode_prompt(chat.tokenizer, question)])
    out = chat.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                              do_sample=False, pad_token_id=chat.tokenizer.pad_token_id,
                              eos_token_id=sorted(chat.eos_ids))
    return chat.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def test_models_lists_the_served_names(client):
    assert sorted(m.id for m in client.models.list().data) == sorted([MODEL, "support"])
    assert client.models.retrieve(MODEL).owned_by == "privft"


def test_answer_is_what_the_model_generates(client, chat):
    answer = ask(client, "Where is my order A-1234?")
    assert answer.choices[0].message.content == plain_generate(chat, "Where is my order A-1234?", 12)
    assert answer.choices[0].message.content.strip()
    assert answer.usage.completion_tokens <= 12 and answer.usage.prompt_tokens > 5
    assert answer.choices[0].finish_reason in ("stop", "length")


def test_streamed_chunks_add_up_to_the_whole_answer(client):
    whole = ask(client, "Can I return a jacket?").choices[0].message.content
    chunks = list(ask(client, "Can I return a jacket?", stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens > 0 and not chunks[-1].choices


def test_concurrent_requests_are_batched_and_answer_as_alone(client, chat):
    questions = ["Where is my order?", "Do you ship to Austria?", "My invoice is wrong.", "Return policy?",
                 "Change my address please.", "Is the jacket waterproof?"]
    alone = {q: ask(client, q).choices[0].message.content for q in questions}
    largest_before = chat.stats.largest
    together: dict[str, str] = {}
    threads = [threading.Thread(target=lambda q=q: together.__setitem__(q, ask(client, q).choices[0].message.content))
               for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone
    assert max(chat.stats.sizes[-len(questions):]) > 1 and chat.stats.largest >= max(largest_before, 2)


def test_max_tokens_and_stop_strings_end_the_answer(client):
    short = ask(client, "Where is my order?", max_tokens=3)
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"
    full = ask(client, "Where is my order?", max_tokens=12).choices[0].message.content
    word = full.split()[1] if len(full.split()) > 1 else full.split()[0]
    cut = ask(client, "Where is my order?", max_tokens=12, stop=[word])
    assert cut.choices[0].message.content == full[: full.index(word)]
    assert cut.choices[0].finish_reason == "stop"


def post(url: str, body: bytes | str, path: str = "/chat/completions") -> tuple[int, dict]:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 400, "json"),
    ("[]", 400, "body"),
    (json.dumps({"model": MODEL}), 400, "messages"),
    (json.dumps({"model": MODEL, "messages": []}), 400, "messages"),
    (json.dumps({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}), 400, "role"),
    (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": 7}]}), 400, "content"),
    (json.dumps({"model": MODEL, "messages": MESSAGES, "temperature": 5}), 400, "temperature"),
    (json.dumps({"model": MODEL, "messages": MESSAGES, "max_tokens": 0}), 400, "max_tokens"),
    (json.dumps({"model": MODEL, "messages": MESSAGES, "max_tokens": 10 ** 9}), 400, "context length"),
    (json.dumps({"model": MODEL, "messages": MESSAGES, "n": 2}), 400, "n:"),
    (json.dumps({"model": MODEL, "messages": MESSAGES, "tools": [{"type": "function"}]}), 400, "tools"),
    (json.dumps({"model": MODEL, "messages": MESSAGES, "stop": [""]}), 400, "stop"),
    (json.dumps({"model": "gpt-4o", "messages": MESSAGES}), 404, "does not exist"),
])
def test_malformed_requests_get_a_json_error_and_the_server_stays_up(url, client, body, status, says):
    code, payload = post(url, body)
    assert code == status
    assert says in payload["error"]["message"].lower() or says in str(payload["error"]["param"])
    assert ask(client, "still there?", max_tokens=2).usage.completion_tokens == 2


def test_unknown_path_is_a_json_404(url):
    request = urllib.request.Request(url + "/embeddings", data=b"{}", headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 404 and "error" in json.loads(err.value.read())


def test_bounded_load_has_no_errors(url):
    from resources.serving.load import run_load

    result = run_load(url, MODEL, clients=6, requests_per_client=3, max_tokens=8, stream=True)
    assert result.errors == 0, result.first_error
    assert result.requests == 18 and result.completion_tokens > 0
    assert 0 < result.p50_s <= result.p95_s and result.tokens_per_s > 0


def test_a_real_model_answers_in_words(client):
    answer = ask(client, "What is the capital of France?", max_tokens=16).choices[0].message.content
    assert "Paris" in answer
