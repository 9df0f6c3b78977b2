"""Checkpoint reports and prompting baselines end to end on the tiny model and a tiny held-out set."""

from __future__ import annotations

import base64
import json
import math

import pytest

from resources.evaluation.engine import few_shot_prompt
from resources.evaluation.evaluator import Evaluator
from resources.schema import make_example

SYSTEM = {"role": "system", "content": "You are the shop's support assistant."}


def _example(i, task, source, user, answer):
    return make_example(source=source, drop="d1", row=i, task=task, messages=[
        SYSTEM, {"role": "user", "content": user}, {"role": "assistant", "content": answer}])


def _examples():
    order = lambda oid, item, q, issue: json.dumps({"order_id": oid, "item": item, "quantity": q, "issue": issue})
    return [
        _example(1, "extract_order", "reviewed_interactions", "Order A-1001: 2 blue mugs arrived broken.",
                 order("A-1001", "blue mug", 2, "broken")),
        _example(2, "extract_order", "teacher_synthetic", "Order B-77: 1 red lamp is missing.",
                 order("B-77", "red lamp", 1, "missing")),
        _example(3, "summarise", "corrected_outputs", "Summarise: the parcel came late and the customer wants a refund.",
                 "Late parcel, refund requested."),
        _example(4, "summarise", "reviewed_interactions", "Summarise: the invoice address is wrong, please fix it.",
                 "Wrong invoice address."),
        _example(5, "policy_qa", "expert_annotations", "How many days do I have to return an item?",
                 "You have 30 days to return an item."),
        _example(6, "policy_qa", "teacher_synthetic", "Do you ship to other countries?",
                 "Yes, we ship to most countries."),
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tiny base model, held-out and training Parquet files, an untrained (zero) adapter and a trained one."""
    import pandas as pd
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.evaluation.heldout_loss import reference_span
    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.model.tiny import build_tiny_model
    from resources.schema import example_text
    from resources.storage import write_parquet

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices gain nothing from threads and lose a lot on shared cores
    root = tmp_path_factory.mktemp("eval")
    examples = _examples()
    base = build_tiny_model(root / "base", [example_text(e) for e in examples])
    write_parquet(root / "eval.parquet", pd.DataFrame(examples))
    # the training set holds the same chats under other ids, so the trained adapter's numbers visibly move
    train = [dict(e, id=e["id"].replace("/d1/", "/train/")) for e in examples]
    write_parquet(root / "train.parquet", pd.DataFrame(train))

    tok = load_tokenizer(base)
    # LoRA on every linear layer, the output layer included: the random tiny model learns a few answers within
    # seconds only through lm_head (with "all-linear", which skips it, the loss barely moves in 50 steps)
    linear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
    model = get_peft_model(load_causal_lm(base, device="cpu"),
                           LoraConfig(r=8, lora_alpha=16, target_modules=linear, task_type="CAUSAL_LM"))
    model.save_pretrained(root / "adapters" / "checkpoint-0", save_embedding_layers=False)
    spans = [reference_span(tok, e) for e in examples]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    torch.manual_seed(0)
    model.train()
    for step in range(50):  # a plain loop: loss on the answer tokens only
        width = max(len(ids) for ids, _ in spans)
        ids_t = torch.full((len(spans), width), tok.pad_token_id)
        labels = torch.full_like(ids_t, -100)
        mask = torch.zeros_like(ids_t)
        for r, (ids, start) in enumerate(spans):
            ids_t[r, :len(ids)], mask[r, :len(ids)] = torch.tensor(ids), 1
            labels[r, start:len(ids)] = torch.tensor(ids[start:])
        loss = model(input_ids=ids_t, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(root / "adapters" / "checkpoint-50", save_embedding_layers=False)
    yield root, base
    torch.set_num_threads(threads)


def _evaluator(**kw):
    return Evaluator(max_new_tokens=16, forgetting_sample_size=12, few_shot_k=2, **kw)


@pytest.mark.slow
def test_checkpoint_report_is_complete_and_deterministic(setup):
    root, base = setup
    ev = _evaluator()
    args = dict(base_model_dir=base, adapter_dir=root / "adapters" / "checkpoint-50", eval_path=root / "eval.parquet",
                train_path=root / "train.parquet")
    report = ev.evaluate_checkpoint(out_dir=root / "run1", **args)
    ev.evaluate_checkpoint(out_dir=root / "run2", **args)
    for name in ("report.json", "report.md", "predictions.jsonl", "forgetting_items.jsonl"):
        assert (root / "run1" / name).read_bytes() == (root / "run2" / name).read_bytes(), name

    assert report["step"] == 50 and report["overall"]["n"] == 6
    assert set(report["by_task"]) == {"extract_order", "summarise", "policy_qa"}
    assert set(report["by_source"]) == {"reviewed_interactions", "teacher_synthetic", "corrected_outputs",
                                        "expert_annotations"}
    eo = report["by_task"]["extract_order"]
    for key in ("exact_match", "token_f1", "rouge1", "rouge2", "rougeL", "json_parse_rate", "json_field_f1",
                "loss", "perplexity"):
        assert key in eo
    assert math.isfinite(report["overall"]["loss"]) and report["overall"]["perplexity"] > 1
    print("trained checkpoint:", {k: round(v, 3) for k, v in report["overall"].items() if isinstance(v, float)})
    assert report["overall"]["token_f1"] > 0.1  # trained on these chats: answers overlap their references
    f = report["forgetting"]
    assert {"base_accuracy", "checkpoint_accuracy", "diff", "stderr", "n", "excluded", "flagged"} <= set(f)
    assert f["n"] == 12 and f["benchmark"].endswith("general_knowledge.csv")
    assert len(report["best"]) == 3 and len(report["worst"]) == 3

    on_disk = json.loads((root / "run1" / "report.json").read_text())
    assert on_disk["overall"] == pytest.approx(report["overall"])
    preds = [json.loads(line) for line in (root / "run1" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 6
    assert {"prompt", "reference", "prediction", "token_f1", "rougeL", "nll"} <= set(preds[0])
    assert "[user]" in preds[0]["prompt"]
    md = (root / "run1" / "report.md").read_text()
    for text in ("By task", "By source", "| extract_order |", "| expert_annotations |", "Forgetting check",
                 "Best", "Worst"):
        assert text in md


@pytest.mark.slow
def test_baselines_zero_and_few_shot_and_best_checkpoint(setup):
    from resources.evaluation.plots import plots_markdown

    root, base = setup
    ev = _evaluator()
    baselines = ev.evaluate_baselines(base_model_dir=base, eval_path=root / "eval.parquet",
                                      train_path=root / "train.parquet", out_dir=root / "baselines")
    assert baselines["zero_shot"]["overall"]["n"] == 6 and baselines["few_shot"]["overall"]["n"] == 6
    assert set(baselines["few_shot"]["by_task"]) == {"extract_order", "summarise", "policy_qa"}
    assert all(len(ids) == 2 for ids in baselines["shots"].values())
    few = [json.loads(x) for x in (root / "baselines" / "predictions_few_shot.jsonl").read_text().splitlines()]
    zero = [json.loads(x) for x in (root / "baselines" / "predictions_zero_shot.jsonl").read_text().splitlines()]
    assert all(len(f["prompt"]) > len(z["prompt"]) for f, z in zip(few, zero))  # the shots are in the prompt
    assert "Few-shot (k=2)" in (root / "baselines" / "report.md").read_text()

    reports = [ev.evaluate_checkpoint(base_model_dir=base, adapter_dir=root / "adapters" / name,
                                      eval_path=root / "eval.parquet", train_path=root / "train.parquet",
                                      out_dir=root / name) for name in ("checkpoint-0", "checkpoint-50")]
    untrained, trained = reports
    # the zero adapter is the base model: same loss as the zero-shot baseline, and nothing forgotten
    assert untrained["overall"]["loss"] == pytest.approx(baselines["zero_shot"]["overall"]["loss"], rel=1e-4)
    assert untrained["forgetting"]["diff"] == 0 and not untrained["forgetting"]["flagged"]
    assert trained["overall"]["loss"] < untrained["overall"]["loss"] - 0.5
    print("held-out loss: base", round(untrained["overall"]["loss"], 3), "trained", round(trained["overall"]["loss"], 3))

    assert ev.choose_best(reports)["checkpoint"] == "checkpoint-50"
    assert Evaluator(primary_metric="loss").choose_best(reports)["checkpoint"] == "checkpoint-50"
    flagged = dict(trained, forgetting=dict(trained["forgetting"], flagged=True))
    assert ev.choose_best([untrained, flagged])["checkpoint"] == "checkpoint-0"
    assert ev.choose_best([flagged]) is None

    md = plots_markdown(reports, baseline=baselines["zero_shot"])
    images = [part.split(")")[0] for part in md.split("data:image/png;base64,")[1:]]
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)


@pytest.mark.slow
def test_generation_recovers_from_out_of_memory_in_input_order(setup, monkeypatch):
    import torch

    from resources.evaluation.generation import generate
    from resources.model.loading import load_causal_lm, load_tokenizer

    root, base = setup
    tok, model = load_tokenizer(base), load_causal_lm(base, device="cpu")
    prompts = [[SYSTEM, {"role": "user", "content": "x " * n}] for n in (3, 40, 1, 12)]
    # one prompt at a time is the reference: no padding at all
    alone = [generate(model, tok, [p], max_new_tokens=6)[0] for p in prompts]
    real = model.generate
    sizes = []

    def tight_memory(**kw):
        sizes.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(**kw)

    monkeypatch.setattr(model, "generate", tight_memory)
    assert generate(model, tok, prompts, max_new_tokens=6, max_batch_tokens=10_000) == alone
    assert sizes[0] == 4 and sizes.count(1) == 4


def test_few_shot_prompt_keeps_system_first():
    shots = _examples()[2:4]
    target = _examples()[0]
    msgs = few_shot_prompt(target, shots)
    assert msgs[0] == SYSTEM and [m["role"] for m in msgs[1:]] == ["user", "assistant"] * 2 + ["user"]
    assert msgs[2]["content"] == shots[0]["reference"] and msgs[-1]["content"].startswith("Order A-1001")
