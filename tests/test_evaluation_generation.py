"""The evaluator's generation: batch layout and cache kind change speed, never the greedy answers."""

from __future__ import annotations

from resources.evaluation.generation import CPU_BATCH_TOKENS, batch_token_budget, generate

PROMPTS = [[{"role": "user", "content": "Where is my order NH-1234? " * k}] for k in (1, 5, 2, 9, 3, 1, 7)]


def test_budget_is_the_configured_one_or_auto(tiny):
    _, model = tiny
    assert batch_token_budget(model, 777) == 777
    assert batch_token_budget(model, 0) == CPU_BATCH_TOKENS  # auto on a CPU; on a GPU it is sized from memory


def test_greedy_answers_do_not_depend_on_batching_or_cache(tiny):
    tokenizer, model = tiny
    one_by_one = [generate(model, tokenizer, [p], max_new_tokens=8, max_batch_tokens=1)[0] for p in PROMPTS]
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=8, max_batch_tokens=0)
    static = generate(model, tokenizer, PROMPTS, max_new_tokens=8, max_batch_tokens=0, static_cache=True)
    assert batched == one_by_one == static
    assert any(a != one_by_one[0] for a in one_by_one)  # the prompts get different answers: the check can fail
