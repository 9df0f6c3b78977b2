"""MMLU as lm-evaluation-harness scores it: the prompt, the answer-letter log-likelihoods, the stratified sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.evaluation.benchmarks import benchmark_sample, load_multiple_choice, sample_items, stratified_sample
from resources.evaluation.mmlu import encode_pair, letter_logprobs, letter_predictions, mmlu_prompt

MMLU = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "mmlu"
SUBJECT = MMLU / "world_religions_test.csv"
TOY = Path(__file__).resolve().parents[1] / "data" / "benchmarks" / "general_knowledge.csv"
SEED = 0

needs_mmlu = pytest.mark.skipif(not MMLU.is_dir(), reason="shared MMLU files missing")


def test_prompt_is_lm_evals_mmlu_prompt_byte_for_byte():
    # lm-eval 0.4.13 logged exactly this context for MMLU world_religions "What can murtis be translated as?"
    # (description from tasks/mmlu/_generate_configs.py, body from default/_default_template_yaml)
    item = {"subject": "world_religions", "question": " What can murtis be translated as?",
            "choices": ["Offerings", "Prayers", "Apparitions", "Idols"], "answer": 3}
    assert mmlu_prompt(item) == ("The following are multiple choice questions (with answers) about world religions."
                                 "\n\nWhat can murtis be translated as?\nA. Offerings\nB. Prayers\nC. Apparitions"
                                 "\nD. Idols\nAnswer:")
    # the toy benchmark has no subject column: its file stem stands in
    toy = load_multiple_choice(TOY)[0]
    assert toy["subject"] == "general_knowledge"
    assert mmlu_prompt(toy).startswith("The following are multiple choice questions (with answers) about general "
                                       "knowledge.\n\nWhat is 56 + 26?\nA. 82\nB. 71\n")


@needs_mmlu
def test_stratified_sample_takes_n_from_every_subject_deterministically():
    items = load_multiple_choice(MMLU)
    sample = benchmark_sample(MMLU, sample_size=0, per_subject=20, seed=SEED)
    counts = {}
    for it in sample:
        counts[it["subject"]] = counts.get(it["subject"], 0) + 1
    assert len(counts) == 57 and set(counts.values()) == {20} and len(sample) == 1140
    assert sample == benchmark_sample(MMLU, sample_size=0, per_subject=20, seed=SEED)
    assert [it["id"] for it in sample] != [it["id"] for it in stratified_sample(items, 20, SEED + 1)]
    # a subject's items do not depend on which other subjects are loaded with it
    alone = stratified_sample(load_multiple_choice(SUBJECT), 20, SEED)
    assert alone == [it for it in sample if it["subject"] == "world_religions"]
    # without per_subject it is the plain seeded sample, as before
    assert benchmark_sample(SUBJECT, sample_size=10, per_subject=0, seed=3) == sample_items(
        load_multiple_choice(SUBJECT), 10, 3)


def test_letter_scoring_takes_the_argmax_of_the_letter_logprobs(tiny):
    from resources.evaluation.loglik import continuation_logprobs, next_token_logprobs

    tok, model = tiny
    items = sample_items(load_multiple_choice(TOY), 12, SEED)
    scores = letter_logprobs(model, tok, items)
    preds = letter_predictions(model, tok, items)
    assert preds == [max(range(4), key=lambda k: s[k]) for s in scores]
    # each score is the summed log-prob of what encoding prompt + " A" adds after the prompt's tokens
    ctx, cont = encode_pair(tok, mmlu_prompt(items[0]), " C")
    assert scores[0][2] == pytest.approx(continuation_logprobs(model, [(ctx + cont, len(ctx))], pad_id=0)[0][0],
                                         abs=1e-4)
    assert encode_pair(tok, "Answer: ", "C") == encode_pair(tok, "Answer:", " C")  # lm-eval moves the space
    # the one-pass path for one-token letters (real tokenizers) gives the same numbers as scoring each letter
    ctxs = [encode_pair(tok, mmlu_prompt(it), " A")[0] for it in items[:5]]
    letters = [tok(letter, add_special_tokens=False)["input_ids"][-1] for letter in "ABCD"]
    fast = next_token_logprobs(model, ctxs, [letters] * 5, pad_id=0, max_batch_tokens=400)  # several batches
    slow = continuation_logprobs(model, [(c + [t], len(c)) for c in ctxs for t in letters], pad_id=0)
    assert [x for row in fast for x in row] == pytest.approx([lp for lp, _ in slow], abs=1e-4)


def test_prediction_is_the_first_highest_letter_as_in_lm_eval(monkeypatch):
    import resources.evaluation.mmlu as mmlu

    scores = [[-3.0, -1.0, -2.0, -9.0], [-2.0, -2.0, -5.0, -2.0], [-4.0, -4.0, -4.0, -0.5]]
    monkeypatch.setattr(mmlu, "letter_logprobs", lambda *a, **k: scores)
    assert mmlu.letter_predictions(None, None, [{}] * 3) == [1, 0, 3]  # numpy's argmax takes the first of a tie
