"""Answer metrics, ROUGE through the shipped evaluate module, JSON field scores, breakdowns and batching."""

from __future__ import annotations

import json
import socket

import pytest

from resources.evaluation import metrics
from resources.evaluation.batching import budget_batches, run_batched, run_split_on_oom
from resources.evaluation.metrics import (exact_match, json_field_counts, normalize_answer, parse_json_answer,
                                          precision_recall_f1, rouge_scores, token_f1)
from resources.evaluation.scoring import json_tasks, score_items, summarise, summary_tables


def test_squad_normalisation_and_exact_match():
    assert normalize_answer("The  Quick, brown FOX!") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"
    assert exact_match("Denver Broncos.", "the denver broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0


def test_token_f1_known_values():
    # pred {cat, sat}, ref {cat, sat, down}: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("The cat sat.", "a cat sat down") == pytest.approx(0.8)
    assert token_f1("Denver Broncos", "the Denver Broncos!") == 1.0
    assert token_f1("blue", "red") == 0.0
    # repeated tokens count by multiplicity: pred {the?no: a a b} -> common {a:1, b:1}; P = 2/3, R = 1
    assert token_f1("x x y", "x y") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and token_f1("the", "something") == 0.0


def test_rouge_known_values_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("ROUGE tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    metrics.rouge_metric.cache_clear()  # load the module now, with the network cut
    scores = rouge_scores(["the cat sat on the mat", "hello world"], ["the cat sat on a mat", "goodbye moon"])
    # unigrams: the, cat, sat, on, mat shared -> 5/6 each way; bigrams 3 of 5; LCS 5 of 6
    assert scores["rouge1"] == [pytest.approx(5 / 6), 0.0]
    assert scores["rouge2"] == [pytest.approx(0.6), 0.0]
    assert scores["rougeL"] == [pytest.approx(5 / 6), 0.0]
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"


def test_rouge_aggregate_repeats_and_is_the_plain_mean():
    preds = [f"order {i} was late and item {i % 3} broke" for i in range(25)]
    refs = [f"order {i} arrived late, the item {i % 4} was broken" for i in range(25)]
    rouge = metrics.rouge_metric()
    first = rouge.compute(predictions=preds, references=refs, rouge_types=["rouge1", "rougeL"])
    second = rouge.compute(predictions=preds, references=refs, rouge_types=["rouge1", "rougeL"])
    assert first == second
    per_item = rouge_scores(preds, refs)
    assert first["rouge1"] == pytest.approx(sum(per_item["rouge1"]) / 25)
    assert 0 < first["rougeL"] < 1


def test_json_answers_parse_and_score_by_field():
    ref = json.dumps({"order_id": "A-1001", "item": "blue mug", "quantity": 2, "issue": "broken"})
    assert parse_json_answer('Sure! {"order_id": "A-1"} hope that helps') == {"order_id": "A-1"}
    assert parse_json_answer("[1, 2]") is None and parse_json_answer("no json") is None
    # 3 fields predicted, 2 right (quantity "2" == 2; item differs), 4 expected -> P 2/3, R 1/2, F1 4/7
    counts = json_field_counts('{"order_id": "A-1001", "quantity": "2", "item": "red mug"}', ref)
    assert counts == {"parsed": 1, "pred_fields": 3, "ref_fields": 4, "correct_fields": 2}
    prf = precision_recall_f1(2, 3, 4)
    assert prf["precision"] == pytest.approx(2 / 3) and prf["recall"] == 0.5 and prf["f1"] == pytest.approx(4 / 7)
    assert json_field_counts("not json at all", ref) == {"parsed": 0, "pred_fields": 0, "ref_fields": 4,
                                                          "correct_fields": 0}


def _examples():
    order = json.dumps({"order_id": "A-1", "item": "mug", "quantity": 1, "issue": "late"})
    return [
        {"id": "s/1", "task": "extract_order", "source": "reviewed_interactions", "reference": order},
        {"id": "s/2", "task": "extract_order", "source": "teacher_synthetic", "reference": order},
        {"id": "s/3", "task": "summarise", "source": "reviewed_interactions", "reference": "Parcel late, refund."},
        {"id": "s/4", "task": "policy_qa", "source": "expert_annotations", "reference": "Returns within 30 days."},
    ]


def test_scores_break_down_by_task_and_source_with_micro_json_fields():
    examples = _examples()
    preds = ['{"order_id": "A-1", "item": "mug", "quantity": 1, "issue": "late"}',  # 4/4 fields
             '{"order_id": "A-2", "item": "mug"} trailing',                          # 1 of 2 predicted right
             "Parcel late, refund.", "Returns are accepted."]
    assert json_tasks(examples) == {"extract_order"}
    rows = score_items(examples, preds, json_task_names={"extract_order"}, nll=[(2.0, 4), (6.0, 4), (1.0, 2), (3.0, 2)])
    tables = summary_tables(rows)
    eo = tables["by_task"]["extract_order"]
    assert eo["n"] == 2 and eo["json_parse_rate"] == 1.0
    assert eo["json_field_precision"] == pytest.approx(5 / 6) and eo["json_field_recall"] == pytest.approx(5 / 8)
    assert eo["exact_match"] == 0.5
    assert "json_parse_rate" not in tables["by_task"]["summarise"]
    assert tables["by_task"]["summarise"]["exact_match"] == 1.0
    assert set(tables["by_source"]) == {"reviewed_interactions", "teacher_synthetic", "expert_annotations"}
    # loss is token-weighted: (2 + 6 + 1 + 3) / 12 tokens = 1.0
    assert tables["overall"]["loss"] == pytest.approx(1.0) and tables["overall"]["perplexity"] == pytest.approx(2.718281828)
    assert tables["by_source"]["reviewed_interactions"]["loss"] == pytest.approx(3.0 / 6)
    assert summarise([])["n"] == 0


def test_token_budget_batches_respect_budget_and_cover_every_item():
    lengths = [5, 100, 7, 50, 51, 3, 99, 2, 8]
    batches = budget_batches(lengths, max_batch_tokens=240, extra_tokens=16)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or (max(lengths[i] for i in b) + 16) * len(b) <= 240
    assert budget_batches([5000], max_batch_tokens=100) == [[0]]  # an oversized item still runs, alone


def test_out_of_memory_halves_the_batch_and_keeps_order():
    import torch

    calls = []

    def fn(batch):
        calls.append(list(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"item{i}" for i in batch]

    out = run_batched([10] * 7, max_batch_tokens=10_000, fn=fn)
    assert out == [f"item{i}" for i in range(7)]
    assert [len(c) for c in calls] == [7, 3, 1, 2, 4, 2, 2]  # 7 fails, 3 fails, then 1+2; 4 fails, then 2+2

    def always(batch):
        raise torch.OutOfMemoryError("out of memory")

    with pytest.raises(RuntimeError, match="single item"):
        run_split_on_oom([3], always)
    with pytest.raises(ValueError):  # other errors are not swallowed
        run_split_on_oom([1, 2], lambda b: (_ for _ in ()).throw(ValueError("bad input")))
