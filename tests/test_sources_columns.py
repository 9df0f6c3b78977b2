"""Columns other tools accept: chats as JSON text in CSV/Parquet cells, scores as CSV text, configured tasks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.schema import KEPT, REJECTED
from resources.sources import SourceCatalog
from resources.sources.formats import to_messages
from resources.sources.rules import apply_rule

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is order NH-1?"},
        {"role": "assistant", "content": "It ships tomorrow."}]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def ingest(tmp_path: Path, source: str, name: str, **catalog):
    cat = SourceCatalog(sample_root=str(tmp_path / "samples"), incoming_root=str(tmp_path / "none"), **catalog)
    summary = cat.ingest_drop(source, name, tmp_path / "out" / name)
    return summary, pd.read_parquet(summary.examples_path), pd.read_parquet(summary.ledger_path)


def drop_dir(tmp_path: Path, source: str) -> Path:
    folder = tmp_path / "samples" / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- (a) messages as a JSON list in a CSV or Parquet cell ----------------------------------------------------

def test_csv_messages_column_holding_json_becomes_the_conversation(tmp_path):
    write_csv(drop_dir(tmp_path, "reviewed_interactions") / "chats.csv", ["messages", "task", "verdict"],
              [[json.dumps(CHAT), "policy_qa", "approved"],
               ['[{"role": "user", "content": "Q"}, {"role": "assist', "policy_qa", "approved"],
               ["just prose, not a chat", "policy_qa", "approved"]])
    summary, examples, ledger = ingest(tmp_path, "reviewed_interactions", "chats.csv")
    assert summary.kept == 1 and json.loads(examples["messages"][0]) == CHAT
    reasons = ledger.loc[ledger["state"] == REJECTED].set_index("line")["reason"]
    assert reasons[3].startswith("invalid JSON: messages")  # names the column, not the line
    assert reasons[4].startswith("wrong type: messages")


def test_parquet_messages_as_json_text_and_as_nested_lists_are_both_read(tmp_path):
    folder = drop_dir(tmp_path, "teacher_synthetic")
    pq.write_table(pa.table({"messages": [json.dumps(CHAT)], "task": ["policy_qa"], "score": [0.9]}),
                   folder / "text.parquet")
    pq.write_table(pa.table({"messages": [CHAT], "task": ["policy_qa"], "score": [0.9]}), folder / "nested.parquet")
    for name in ("text.parquet", "nested.parquet"):
        summary, examples, _ = ingest(tmp_path, "teacher_synthetic", name)
        assert summary.kept == 1, (name, summary.rejected)
        assert json.loads(examples["messages"][0]) == CHAT


@settings(max_examples=60, deadline=None, database=None)
@given(contents=st.lists(st.text(max_size=20), min_size=1, max_size=4), answer=st.text(min_size=1, max_size=20))
def test_json_text_messages_read_exactly_like_the_list(contents, answer):
    msgs = [{"role": "user", "content": c} for c in contents] + [{"role": "assistant", "content": answer}]
    as_list = as_text = None
    try:
        as_list = to_messages({"messages": msgs})
    except ValueError as e:
        as_list = str(e)
    try:
        as_text = to_messages({"messages": json.dumps(msgs, ensure_ascii=False)})
    except ValueError as e:
        as_text = str(e)
    assert as_text == as_list


# --- (b) teacher scores in CSV are numbers -------------------------------------------------------------------

def test_csv_teacher_scores_are_numbers_and_non_numbers_say_so(tmp_path):
    header = ["prompt", "completion", "task", "score"]
    write_csv(drop_dir(tmp_path, "teacher_synthetic") / "t.csv", header,
              [["Q1", "A1", "policy_qa", "0.92"], ["Q2", "A2", "policy_qa", " 0.5 "], ["Q3", "A3", "policy_qa", "high"],
               ["Q4", "A4", "policy_qa", ""], ["Q5", "A5", "policy_qa", "1.5"], ["Q6", "A6", "policy_qa", "1"]])
    summary, examples, ledger = ingest(tmp_path, "teacher_synthetic", "t.csv")
    by_line = ledger.set_index("line")
    assert examples["reference"].tolist() == ["A1", "A6"]
    assert by_line.loc[3, "reason"] == "low score: 0.50 < 0.7"
    assert by_line.loc[4, "reason"] == "wrong type: score 'high' is not a number"
    assert by_line.loc[5, "reason"] == "missing field: score"
    assert by_line.loc[6, "reason"].startswith("invalid score")
    assert dict(summary.score_histogram)["0.9-1.0"] == 2


@settings(max_examples=100, deadline=None, database=None)
@given(score=st.floats(0, 1), spaces=st.sampled_from(["", " ", "\t"]))
def test_score_text_counts_as_the_number_it_spells(score, spaces):
    rec = {"prompt": "Q", "completion": "A", "task": "t"}
    as_number = apply_rule("teacher_synthetic", {**rec, "score": score}, teacher_min_score=0.5)
    as_text = apply_rule("teacher_synthetic", {**rec, "score": f"{spaces}{score!r}{spaces}"}, teacher_min_score=0.5)
    assert (as_text.state, as_text.reason, as_text.score) == (as_number.state, as_number.reason, as_number.score)


# --- (d) annotation tasks come from configuration ------------------------------------------------------------

def test_configured_annotation_task_gets_its_instruction_and_unknown_tasks_say_how_to_fix(tmp_path):
    rows = [["Parcel arrived wet.", '{"answer": "damaged"}', "classify_issue"],
            ["Hello", '{"answer": "x"}', "translate"]]
    write_csv(drop_dir(tmp_path, "expert_annotations") / "a.csv", ["document", "annotation", "task"], rows)
    instruction = "Classify the customer's issue in one word."
    summary, examples, ledger = ingest(tmp_path, "expert_annotations", "a.csv",
                                       task_instructions={"classify_issue": instruction})
    assert summary.kept == 1 and summary.tasks == {"classify_issue": 1}
    msgs = json.loads(examples["messages"][0])
    assert msgs == [{"role": "user", "content": f"{instruction}\n\nParcel arrived wet."},
                    {"role": "assistant", "content": "damaged"}]
    reason = ledger.set_index("line").loc[3, "reason"]
    assert reason.startswith("unknown task: 'translate' has no instruction")
    assert "SourceCatalog.task_instructions" in reason and "classify_issue" in reason


def test_configured_instruction_overrides_a_built_in_task():
    out = apply_rule("expert_annotations", {"document": "D", "annotation": '{"summary": "S."}', "task": "summarise"},
                     task_instructions={"summarise": "Summarise in German."})
    assert out.state == KEPT and out.messages[0]["content"] == "Summarise in German.\n\nD"
