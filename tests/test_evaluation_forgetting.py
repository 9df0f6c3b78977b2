"""Forgetting check on the real MMLU and GSM8K files, scored as lm-eval scores MMLU; the embedded toy sample."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from resources.evaluation.benchmarks import (BenchmarkError, final_answer, is_smoke_benchmark, load_gsm8k,
                                             load_multiple_choice, sample_items)
from resources.evaluation.forgetting import check_forgetting, paired_difference
from resources.evaluation.mmlu import encode_pair, mmlu_prompt

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
MMLU = SHARED / "mmlu"
GSM8K = SHARED / "gsm8k_test.jsonl"
ROOT = Path(__file__).resolve().parents[1]
# short questions keep the CPU cost of the model tests small; the items are real MMLU test items
SUBJECT = MMLU / "world_religions_test.csv"
SAMPLE, SEED = 24, 0
STEPS = 50  # enough for the answer letters of 24 items to be learnt (~0.8 accuracy)
TOY = ROOT / "data" / "benchmarks" / "general_knowledge.csv"

needs_shared = pytest.mark.skipif(not MMLU.is_dir() or not GSM8K.is_file(), reason="shared benchmarks missing")


def test_generator_writes_the_shipped_sample_byte_for_byte(tmp_path):
    spec = importlib.util.spec_from_file_location("gen", ROOT / "data" / "benchmarks" / "generate_general_knowledge.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = gen.main(["--out", str(tmp_path / "gk.csv")])
    assert out.read_bytes() == (ROOT / "data" / "benchmarks" / "general_knowledge.csv").read_bytes()
    items = load_multiple_choice(out)
    assert 180 <= len(items) <= 250
    assert all(len(set(it["choices"])) == 4 and 0 <= it["answer"] <= 3 for it in items)
    assert {it["answer"] for it in items} == {0, 1, 2, 3}  # the right answer is not always in one place
    capital = next(it for it in items if it["question"] == "What is the capital of France?")
    assert capital["choices"][capital["answer"]] == "Paris"


@needs_shared
def test_loader_takes_file_folder_or_glob(tmp_path):
    everything = load_multiple_choice(MMLU)
    assert len(everything) == 14042 and len({it["id"] for it in everything}) == 14042
    one = load_multiple_choice(SUBJECT)
    assert len(one) == 171 and one[0]["id"] == "world_religions_test/2" and one[0]["subject"] == "world_religions"
    assert len(load_multiple_choice(str(MMLU / "world_*.csv"))) == 171
    assert sample_items(one, 10, 3) == sample_items(one, 10, 3) != sample_items(one, 10, 4)
    bad = tmp_path / "bad.csv"
    bad.write_text("question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,1\nq2,a,b,c,d,E\n")
    with pytest.raises(BenchmarkError, match=r"bad.csv:3"):
        load_multiple_choice(bad)
    with pytest.raises(BenchmarkError, match="no such"):
        load_multiple_choice(tmp_path / "missing.csv")


@needs_shared
def test_gsm8k_parses_and_final_answers_extract():
    items = load_gsm8k(GSM8K)
    assert len(items) == 1319 and all(it["final"] is not None for it in items)
    assert items[0]["final"] == "18" and items[2]["final"] == "70000"
    assert final_answer("He pays $1,250.00 in total.\nQuestion: next") == "1250"
    assert final_answer("#### -3") == "-3" and final_answer("no number") is None


def test_paired_difference_and_flag_rule():
    same = paired_difference([1, 0, 1, 1], [1, 0, 1, 1], tolerance=0.02)
    assert same["diff"] == 0 and same["stderr"] == 0 and not same["flagged"]
    # 20 items, 10 right before and 4 after (6 lost): diff -0.3, d has six -1s -> sd 0.470, se 0.105
    drop = paired_difference([1] * 10 + [0] * 10, [1] * 4 + [0] * 16, tolerance=0.02)
    assert drop["diff"] == pytest.approx(-0.3) and drop["stderr"] == pytest.approx(0.10513, abs=1e-4)
    assert drop["flagged"]
    # a 5-point drop that is within twice its standard error is noise, not forgetting
    noisy = paired_difference([1] * 10 + [0] * 10, [0] * 3 + [1] * 7 + [1] * 2 + [0] * 8, tolerance=0.02)
    assert noisy["diff"] == pytest.approx(-0.05) and not noisy["flagged"]


def test_toy_benchmark_is_labelled_a_smoke_check(tiny, tmp_path):
    tok, model = tiny
    copy = tmp_path / "general_knowledge.csv"
    copy.write_bytes(TOY.read_bytes())
    real = tmp_path / "astronomy_test.csv"  # a real benchmark of one's own, however small
    real.write_text("question,choice0,choice1,choice2,choice3,answer\nWhich planet is largest?,Mars,Jupiter,"
                    "Venus,Mercury,1\nWhat orbits the Earth?,The Sun,Mars,The Moon,Venus,2\n")
    assert is_smoke_benchmark(TOY) and is_smoke_benchmark(copy) and not is_smoke_benchmark(real)
    smoke = check_forgetting(model, tok, base=model, benchmark=str(TOY), sample_size=6)
    assert smoke["kind"] == "smoke" and smoke["kind_note"].startswith("Smoke check, not a forgetting check")
    assert smoke["subjects"] == {"general_knowledge": 6} and "n=6" in smoke["summary"]
    checked = check_forgetting(model, tok, base=model, benchmark=str(real), per_subject=5)
    assert checked["kind"] == "forgetting" and checked["kind_note"].startswith("Forgetting check on 2 items")
    assert checked["subjects"] == {"astronomy": 2} and checked["diff"] == 0
    assert "+0.000 ± 0.000 (paired SE), n=2, 1 subject" in checked["summary"]


# --- with a model that knows something -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def knowing_model(tmp_path_factory):
    """The tiny model taught the answers of the benchmark sample, so it has knowledge to lose.

    The random tiny model sits at chance on MMLU, where nothing can get worse; a few steps of training on the
    sampled items (a loss on the same answer-letter scores the check uses) give it real accuracy.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.model.tiny import build_tiny_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    tok, model = load_tokenizer(path), load_causal_lm(path, device="cpu")
    items = sample_items(load_multiple_choice(SUBJECT), SAMPLE, SEED)
    # " A" .. " D" share every token but the letter (the tiny tokenizer: a space, then the letter), so one
    # sequence per item and the four letters' logits at its end are the check's four scores, up to a constant
    seqs, letters = [], []
    for it in items:
        pairs = [encode_pair(tok, mmlu_prompt(it), " " + letter) for letter in "ABCD"]
        seqs.append(pairs[0][0] + pairs[0][1][:-1])
        letters = [cont[-1] for _, cont in pairs]
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(STEPS):
        pick = torch.randperm(len(items))[:8].tolist()
        width = max(len(seqs[i]) for i in pick)
        ids = torch.full((len(pick), width), tok.pad_token_id)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(pick):
            ids[r, :len(seqs[i])], mask[r, :len(seqs[i])] = torch.tensor(seqs[i]), 1
        logits = model(input_ids=ids, attention_mask=mask).logits
        scores = torch.stack([logits[r, len(seqs[i]) - 1, letters] for r, i in enumerate(pick)])
        loss = torch.nn.functional.cross_entropy(scores, torch.tensor([items[i]["answer"] for i in pick]))
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    tuned = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    tuned.eval()
    yield tuned, tok, items
    torch.set_num_threads(threads)


@needs_shared
@pytest.mark.slow
def test_identical_model_is_not_flagged(knowing_model):
    tuned, tok, _ = knowing_model  # LoRA B starts at zero: the checkpoint computes exactly the base function
    result = check_forgetting(tuned, tok, benchmark=str(SUBJECT), sample_size=SAMPLE, seed=SEED)
    print("identical:", {k: result[k] for k in ("n", "base_accuracy", "checkpoint_accuracy", "diff", "stderr")})
    assert result["n"] == SAMPLE and result["excluded"] == 0
    assert result["base_accuracy"] >= 0.6  # well above the 0.25 of chance: there is something to forget
    assert result["checkpoint_accuracy"] == result["base_accuracy"]
    assert result["diff"] == 0 and result["stderr"] == 0 and not result["flagged"]
    assert len(result["per_item"]) == SAMPLE


@needs_shared
@pytest.mark.slow
def test_near_duplicates_of_training_items_are_excluded(knowing_model):
    tuned, tok, items = knowing_model
    leaked = [f"{items[i]['question']} {' '.join(items[i]['choices'])} (from a training chat)" for i in (1, 5, 9)]
    train = leaked + ["Order A-1: two mugs arrived broken.", "What is the refund policy for late parcels?"]

    def brute_force_near_pairs(queries, references, threshold=0.5):
        def grams(text):
            words = text.lower().split()
            return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}
        out = []
        for qi, q in enumerate(queries):
            for ri, r in enumerate(references):
                a, b = grams(q), grams(r)
                j = len(a & b) / len(a | b)
                if j >= threshold:
                    out.append((qi, ri, j))
        return out

    result = check_forgetting(tuned, tok, benchmark=str(SUBJECT), sample_size=SAMPLE, seed=SEED, train_texts=train,
                              near_pairs=brute_force_near_pairs)
    assert result["excluded"] == 3 and result["n"] == SAMPLE - 3
    assert [e["id"] for e in result["excluded_items"]] == [items[i]["id"] for i in (1, 5, 9)]
    assert [e["train_index"] for e in result["excluded_items"]] == [0, 1, 2]


@needs_shared
@pytest.mark.slow
def test_scrambling_adapter_is_flagged_and_gsm8k_runs(knowing_model):
    import torch

    tuned, tok, _ = knowing_model
    g = check_forgetting(tuned, tok, benchmark=str(SUBJECT), sample_size=4, seed=SEED, gsm8k_path=str(GSM8K),
                         gsm8k_sample_size=3, max_new_tokens=8)
    assert g["gsm8k"]["n"] == 3 and g["gsm8k"]["diff"] == 0 and not g["flagged"]
    assert sum(1 for r in g["per_item"] if r["benchmark"] == "gsm8k") == 3

    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():  # planted degradation: LoRA B weights set to large random values
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 2.0)
    result = check_forgetting(tuned, tok, benchmark=str(SUBJECT), sample_size=SAMPLE, seed=SEED)
    print("scrambled:", {k: result[k] for k in ("n", "base_accuracy", "checkpoint_accuracy", "diff", "stderr")})
    assert result["checkpoint_accuracy"] < result["base_accuracy"]
    assert result["stderr"] > 0 and -result["diff"] > 2 * result["stderr"] and -result["diff"] > 0.02
    assert result["flagged"] and result["benchmark_flagged"] and "fell by" in result["flag_reasons"][0]


def test_the_base_models_answers_are_computed_once_per_base_and_item_set(tiny, tmp_path, monkeypatch):
    import resources.evaluation.forgetting as forgetting

    tok, model = tiny
    calls = []
    real = forgetting.letter_predictions
    monkeypatch.setattr(forgetting, "letter_predictions", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache = {"dir": tmp_path / "base_answers", "base": "base-v1"}
    first = check_forgetting(model, tok, base=model, benchmark=str(TOY), sample_size=6, base_cache=cache)
    assert len(calls) == 2  # base and checkpoint
    again = check_forgetting(model, tok, base=model, benchmark=str(TOY), sample_size=6, base_cache=cache)
    assert len(calls) == 3 and again["base_accuracy"] == first["base_accuracy"]  # the base's answers came from disk
    check_forgetting(model, tok, base=model, benchmark=str(TOY), sample_size=6, base_cache={**cache, "base": "v2"})
    check_forgetting(model, tok, base=model, benchmark=str(TOY), sample_size=5, base_cache=cache)
    assert len(calls) == 7  # another base, another item set: computed again
