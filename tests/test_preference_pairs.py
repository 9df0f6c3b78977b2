"""Preference pairs from a small corrections drop and a filled rating sheet: every input pair gets one fate,
bad pairs are rejected with a reason, PII leaves all three fields, duplicates fold into origin_ids, a prompt SFT
holds out is never trained on, and benchmark text is removed from training."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from resources.dedup.resource import Deduplicator
from resources.evaluation.engine import prompt_text
from resources.evaluation.ratings import export_rating_sheet
from resources.layout import Layout
from resources.prepare.config import PrepareConfig
from resources.preference.build import build_preferences
from resources.preference.checks import accounting_problems, held_out_prompts_in_train
from resources.schema import make_example
from resources.sources.ingest import ingest
from resources.storage import write_parquet

BENCH = "the committee decided that every lighthouse keeper must report the weather twice a day in writing"
HELD = "What is the return window for a Fjord lamp bought online?"  # an SFT held-out prompt
PRODUCTS = ["lamp", "candle", "rug", "vase", "chair", "table", "mirror", "shelf", "clock", "blanket", "pillow",
            "basket", "kettle", "mug", "plate", "bowl", "sofa", "stool", "desk", "bench"]


def _row(prompt: str, corrected, model=..., **kw) -> dict:
    row = {"prompt": prompt, "corrected_output": corrected, "task": kw.pop("task", "policy_qa"), **kw}
    if model is not ...:
        row["model_output"] = model
    return row


ROWS = [
    _row("Can I reach you at jane.doe@example.com about my rug order?", "Yes, call us on +49 30 1234567.",
         "Pay to DE89370400440532013000 first."),                                          # 1: PII in all three
    _row("Is the vase dishwasher safe?", "<p>Hand wash only.</p>", "Hand  wash only."),   # 2: equal after cleaning
    _row("Do you ship to Norway?", "Yes, within five days.", ""),                          # 3: empty rejected
    _row("Do you ship to Iceland?", "Yes, within nine days."),                            # 4: no model output
    _row("Do you ship to Finland?", "Yes, within six days.", "<br>"),                      # 5: markup only
    _row("Can I reach you at jane.doe@example.com about my rug order?", "Yes, call us on +49 30 1234567.",
         "No."),                                                                            # 6: duplicate of 1
    {"prompt": "Where is my order?", "model_output": "Lost.", "task": "policy_qa"},         # 7: no correction
    _row(HELD.upper().replace(" ", "  "), "30 days from delivery.", "No returns."),        # 8: SFT held-out prompt
    _row("Tell me about the storm lantern.", f"Our lantern story: {BENCH}.", "It is a lamp."),  # 9: benchmark
] + [_row(f"How long is the warranty on the {p} model {i}?", f"The {p} has a {i + 2} year warranty.",
          "There is no warranty.") for i, p in enumerate(PRODUCTS)] + [
    # 30: a near duplicate of 8 whose prompt is not quite the held-out one; it survives (smaller id) and absorbs 8
    _row(HELD.replace("a Fjord", "the Fjord"), "30 days from delivery.", "Never."),
]


@pytest.fixture()
def built(tmp_path):
    layout = Layout(tmp_path / "artifacts")
    drop = tmp_path / "d1.jsonl"
    drop.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    ingest("corrected_outputs", "d1.jsonl", [drop], layout.source_drop("corrected_outputs", "d1.jsonl"))
    held = [make_example(source="reviewed_interactions", drop="x", row=1, task="policy_qa",
                         messages=[{"role": "user", "content": HELD}, {"role": "assistant", "content": "30 days."}]),
            make_example(source="reviewed_interactions", drop="x", row=2, task="policy_qa",
                         messages=[{"role": "user", "content": "Is the mirror framed?"},
                                   {"role": "assistant", "content": "Yes, in oak."}])]
    write_parquet(layout.datasets() / "eval.parquet", pd.DataFrame(held))
    items = [{"id": "reviewed_interactions/x/1", "prompt": prompt_text([{"role": "user", "content": HELD}]),
              "tuned": "30 days from delivery, write to [EMAIL] to start.", "other": "No idea."},
             {"id": "reviewed_interactions/x/2", "prompt": "[user]\nIs the mirror framed?",
              "tuned": "Yes, in oak.", "other": "It is made of glass."}]
    sheet = layout.ratings() / "ck-1"
    export_rating_sheet(items, sheet, seed=0)
    key = json.loads((sheet / "key.json").read_text())["tuned_side"]
    rows = list(csv.DictReader(open(sheet / "sheet.csv", newline="", encoding="utf-8")))
    rows[0]["rating"] = key["reviewed_interactions/x/1"]   # the tuned answer wins
    rows[1]["rating"] = "tie"
    rows.append({**rows[0], "rating": "B"})                  # rated again
    rows.append({**rows[1], "item_id": "nowhere/1", "rating": "maybe"})
    with open(sheet / "filled.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = build_preferences(layout, prepare=PrepareConfig(min_eval=2), dedup=Deduplicator(),
                               benchmark_items=[("bench/1", BENCH)])
    folder = layout.preferences()
    return layout, result, {side: pd.read_parquet(folder / f"{side}.parquet") for side in ("train", "eval")}, \
        pd.read_parquet(folder / "ledger.parquet").set_index("id")


def test_every_input_pair_has_one_fate_with_a_reason(built):
    layout, result, sets, ledger = built
    ids = [f"corrected_outputs/d1.jsonl/{i}" for i in range(1, len(ROWS) + 1)]
    assert set(ids) <= set(ledger.index) and ledger.index.is_unique
    # a counted rating is named by its item; a refused one by its line (it may repeat an item or name none)
    lines = sorted(set(ledger.index) - set(ids) - {"ratings/ck-1/reviewed_interactions/x/1",
                                                   "ratings/ck-1/reviewed_interactions/x/2"})
    assert len(lines) == 2 and all(i.startswith("ratings/ck-1/line-") for i in lines)
    reason = lambda i: ledger.loc[f"corrected_outputs/d1.jsonl/{i}", "reason"]  # noqa: E731
    assert reason(2).startswith("chosen equals rejected")
    assert reason(3).startswith("empty rejected") and reason(5).startswith("empty rejected")
    assert reason(4) == "missing field: model_output"
    assert ledger.loc["corrected_outputs/d1.jsonl/6", "duplicate_of"] == "corrected_outputs/d1.jsonl/1"
    assert ledger.loc["corrected_outputs/d1.jsonl/7", "stage"] == "source"            # the source's own fate
    assert ledger.loc["ratings/ck-1/reviewed_interactions/x/2", "reason"].startswith("tie")
    assert "rated again" in ledger.loc[lines[0], "reason"] and ledger.loc[lines[0], "state"] == "rejected"
    assert "unknown item_id" in ledger.loc[lines[1], "reason"]
    assert (ledger.loc[ledger["state"] != "kept", "reason"] != "").all()
    kept = set(ledger.index[ledger["state"] == "kept"])
    assert kept == set(sets["train"]["id"]) | set(sets["eval"]["id"])
    assert accounting_problems(layout)[1] == [] and result.problems == []
    assert list(sets["train"].columns) == ["id", "source", "task", "prompt", "chosen", "rejected", "origin_ids"]


def test_pii_is_scrubbed_from_prompt_chosen_and_rejected(built):
    _, _, sets, _ = built
    pair = pd.concat(sets.values()).set_index("id").loc["corrected_outputs/d1.jsonl/1"]
    assert "[EMAIL_1]" in json.loads(pair["prompt"])[0]["content"]
    assert pair["chosen"] == "Yes, call us on [PHONE_1]." and pair["rejected"] == "Pay to [IBAN_1] first."
    text = pd.concat(sets.values()).to_json(orient="records")
    assert "jane.doe" not in text and "1234567" not in text and "DE8937" not in text
    # the duplicate's id travels with the survivor, so an erasure of row 6 finds this pair
    assert json.loads(pair["origin_ids"]) == ["corrected_outputs/d1.jsonl/1", "corrected_outputs/d1.jsonl/6"]


def test_sft_held_out_prompts_land_in_the_preference_held_out_set(built):
    layout, result, sets, ledger = built
    evals = set(sets["eval"]["id"])
    # 8 asks an SFT held-out question (other case and spacing); 30, which absorbed it, is held out with it
    assert ledger.loc["corrected_outputs/d1.jsonl/8", "duplicate_of"] == "corrected_outputs/d1.jsonl/30"
    assert "corrected_outputs/d1.jsonl/30" in evals
    assert "ratings/ck-1/reviewed_interactions/x/1" in evals
    assert held_out_prompts_in_train(layout) == []
    rated = sets["eval"].set_index("id").loc["ratings/ck-1/reviewed_interactions/x/1"]
    assert json.loads(rated["prompt"]) == [{"role": "user", "content": HELD}]
    assert rated["chosen"].startswith("30 days from delivery") and rated["rejected"] == "No idea."
    assert len(sets["train"]) >= 10 and not set(sets["train"]["id"]) & evals


def test_benchmark_text_never_trains(built):
    _, result, sets, ledger = built
    pair = "corrected_outputs/d1.jsonl/9"
    assert pair not in set(sets["train"]["id"]) | set(sets["eval"]["id"])
    assert ledger.loc[pair, "reason"] == "contaminates_benchmark:bench/1 (13-gram)"
    assert result.stats["decontamination"]["contaminates_benchmark"] == 1


def test_the_accounting_check_sees_a_lost_pair(built):
    layout, _, _, ledger = built
    write_parquet(layout.preferences() / "ledger.parquet", ledger.drop(index="corrected_outputs/d1.jsonl/3")
                  .reset_index())
    problems = accounting_problems(layout)[1]
    assert any("corrected_outputs/d1.jsonl" in p and "in the ledger" in p for p in problems)


def test_an_unreadable_sheet_is_one_rejected_input_and_the_build_is_repeatable(built, tmp_path):
    layout, _, sets, _ = built
    (layout.ratings() / "ck-1" / "filled.csv").write_text("what,ever\n1,2\n", encoding="utf-8")
    build_preferences(layout, prepare=PrepareConfig(min_eval=2), dedup=Deduplicator(),
                      benchmark_items=[("bench/1", BENCH)])
    ledger = pd.read_parquet(layout.preferences() / "ledger.parquet").set_index("id")
    assert ledger.loc["ratings/ck-1/filled.csv", "reason"].startswith("unreadable: ValueError")
    assert accounting_problems(layout)[1] == []
    again = pd.read_parquet(layout.preferences() / "train.parquet")
    pd.testing.assert_frame_equal(again, sets["train"])


def test_no_sft_datasets_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialise training_datasets first"):
        build_preferences(Layout(tmp_path), prepare=PrepareConfig(), dedup=Deduplicator(), benchmark_items=[])


def test_a_drop_of_duplicates_extends_origin_ids_but_not_the_data_version(built, tmp_path):
    from resources.preference.build import data_version

    layout, _, sets, _ = built
    before = data_version(layout.preferences())
    drop = tmp_path / "d2.jsonl"
    drop.write_text(json.dumps({**ROWS[10], "model_output": "Ask the shop."}) + "\n", encoding="utf-8")
    ingest("corrected_outputs", "d2.jsonl", [drop], layout.source_drop("corrected_outputs", "d2.jsonl"))
    build_preferences(layout, prepare=PrepareConfig(min_eval=2), dedup=Deduplicator(),
                      benchmark_items=[("bench/1", BENCH)])
    pairs = pd.concat(pd.read_parquet(layout.preferences() / f"{s}.parquet") for s in ("train", "eval"))
    origins = json.loads(pairs.set_index("id").loc["corrected_outputs/d1.jsonl/11", "origin_ids"])
    assert origins == ["corrected_outputs/d1.jsonl/11", "corrected_outputs/d2.jsonl/1"]
    assert data_version(layout.preferences()) == before
    assert accounting_problems(layout)[1] == []


def test_no_pairs_yet_gives_empty_typed_sets_and_balanced_books(tmp_path):
    layout = Layout(tmp_path)
    held = make_example(source="reviewed_interactions", drop="x", row=1, task="t",
                        messages=[{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}])
    write_parquet(layout.datasets() / "eval.parquet", pd.DataFrame([held]))
    result = build_preferences(layout, prepare=PrepareConfig(), dedup=Deduplicator(), benchmark_items=[])
    train = pd.read_parquet(layout.preferences() / "train.parquet")
    assert result.train_rows == result.eval_rows == len(train) == 0
    assert list(train.columns) == ["id", "source", "task", "prompt", "chosen", "rejected", "origin_ids"]
    assert all(pd.api.types.is_string_dtype(train[c]) for c in train.columns)
    assert accounting_problems(layout)[1] == []
