"""Source readers, chat formats and per-source rules on the committed sample drops and small hand-made files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resources.schema import FILTERED, KEPT, REJECTED
from resources.sources.files import Rejection, Row, read_rows
from resources.sources.formats import FormatError, detect_format, to_messages
from resources.sources.rules import TASK_INSTRUCTIONS, apply_rule

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the committed sample files ------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["reviewed_interactions/2026-11-01.jsonl", "reviewed_interactions/2026-11-08.jsonl",
                                 "teacher_synthetic/2026-11-06.jsonl"])
def test_every_sample_jsonl_line_comes_out_once_in_order(rel):
    path = SAMPLES / rel
    items = list(read_rows(path))
    n_lines = len(path.read_bytes().splitlines())
    assert [i.line for i in items] == list(range(1, n_lines + 1))
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert rejections, "the samples plant malformed lines"
    assert all(r.file == path.name and r.reason for r in rejections)


def test_sample_csv_reports_planted_column_errors_by_line():
    path = SAMPLES / "corrected_outputs" / "2026-11-05.csv"
    items = list(read_rows(path))
    n_records = sum(1 for _ in csv.reader(io.StringIO(path.read_text("utf-8"), newline=""))) - 1
    assert len(items) == n_records
    bad = [i for i in items if isinstance(i, Rejection)]
    assert sorted(r.reason.split(":")[0] for r in bad) == ["wrong column count", "wrong column count"]
    physical = path.read_text("utf-8").split("\n")
    for r in bad:  # the reported line is the physical line holding the bad row
        assert physical[r.line - 1].startswith(("Where is my parcel?", "How long is the warranty?,2 years"))


def test_sample_parquet_rows_are_dicts_with_the_annotation_columns():
    path = SAMPLES / "expert_annotations" / "2026-11-03.parquet"
    items = list(read_rows(path))
    assert len(items) == pq.ParquetFile(path).metadata.num_rows
    assert all(isinstance(i, Row) for i in items)
    assert set(items[0].record) == {"doc_id", "document", "annotation", "task", "annotator", "annotated_at"}
    assert [i.line for i in items] == list(range(1, len(items) + 1))


# --- JSONL defects -------------------------------------------------------------------------------------------

def test_jsonl_defects_each_named_with_line_and_reason(tmp_path):
    good = json.dumps({"prompt": "p", "completion": "c"}).encode()
    data = b"\n".join([
        b"\xef\xbb\xbf" + good,          # 1 BOM is tolerated
        b'{"prompt": "p", "completion"',  # 2 truncated
        b"[1, 2]",                        # 3 valid JSON but not an object
        b"   ",                           # 4 blank
        b'{"a": "\xff\xfe"}',             # 5 not UTF-8
        b'{"big": "' + b"x" * 500 + b'"}',  # 6 over the row limit
        good,                             # 7 still read after all of that
    ]) + b"\n"
    items = list(read_rows(write(tmp_path / "d.jsonl", data), max_row_bytes=200))
    got = {i.line: (type(i).__name__, getattr(i, "reason", "").split(":")[0]) for i in items}
    assert got == {1: ("Row", ""), 2: ("Rejection", "invalid JSON"), 3: ("Rejection", "not a JSON object"),
                   4: ("Rejection", "blank line"), 5: ("Rejection", "undecodable bytes"),
                   6: ("Rejection", "row too large"), 7: ("Row", "")}
    assert all(i.file == "d.jsonl" for i in items)


def test_jsonl_huge_line_without_newline_is_skipped_with_bounded_reads(tmp_path):
    data = b'{"a": 1}\n' + b"y" * 10_000 + b'\n{"b": 2}'  # last line has no trailing newline
    items = list(read_rows(write(tmp_path / "h.jsonl", data), max_row_bytes=100))
    assert [(i.line, type(i).__name__) for i in items] == [(1, "Row"), (2, "Rejection"), (3, "Row")]
    assert "10000 bytes" in items[1].reason


def test_empty_files_yield_nothing(tmp_path):
    assert list(read_rows(write(tmp_path / "e.jsonl", b""))) == []
    assert list(read_rows(write(tmp_path / "e.csv", b""))) == []
    assert list(read_rows(write(tmp_path / "e.parquet", b""))) == []


# --- CSV and Parquet defects ---------------------------------------------------------------------------------

def test_csv_multiline_fields_keep_their_first_line_and_bad_rows_are_named(tmp_path):
    data = ("a,b\n"
            '"line one\nline two",x\n'   # record on lines 2-3
            "only-one-column\n"           # line 4
            "\n"                          # line 5
            "ok,y\n").encode() + b"\xff,z\n"  # line 6, then 7 not UTF-8
    items = list(read_rows(write(tmp_path / "c.csv", data)))
    assert [(i.line, type(i).__name__) for i in items] == [(2, "Row"), (4, "Rejection"), (5, "Rejection"),
                                                          (6, "Row"), (7, "Rejection")]
    assert items[0].record == {"a": "line one\nline two", "b": "x"}
    assert items[1].reason.startswith("wrong column count: expected 2")
    assert items[4].reason.startswith("undecodable bytes")


def test_csv_field_over_the_row_limit_is_rejected_and_reading_goes_on(tmp_path):
    data = b"a,b\n" + b"x" * 300_000 + b",1\nsmall,2\n"  # bigger than the csv module's default field limit
    items = list(read_rows(write(tmp_path / "big.csv", data), max_row_bytes=1_000))
    assert [(i.line, type(i).__name__) for i in items] == [(2, "Rejection"), (3, "Row")]
    assert items[0].reason.startswith("row too large")


def test_corrupt_parquet_is_one_rejection_for_the_whole_file(tmp_path):
    items = list(read_rows(write(tmp_path / "bad.parquet", b"PAR1 this is not parquet")))
    assert len(items) == 1 and items[0].line == 0 and items[0].reason.startswith("unreadable Parquet")


def test_parquet_row_over_the_limit_is_rejected(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"document": ["short", "z" * 5000], "n": [1, 2]}), path)
    items = list(read_rows(path, max_row_bytes=1000))
    assert isinstance(items[0], Row) and items[0].record == {"document": "short", "n": 1}
    assert isinstance(items[1], Rejection) and items[1].line == 2


def test_unsupported_suffix_says_which_are_supported(tmp_path):
    with pytest.raises(ValueError, match=r"\.jsonl, \.csv, \.parquet"):
        read_rows(write(tmp_path / "x.txt", b"hi"))


# --- formats -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("record, fmt", [
    ({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}, "chat"),
    ({"instruction": "Q", "input": "", "output": "A"}, "alpaca"),
    ({"prompt": "Q", "completion": "A"}, "prompt_completion"),
    ({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}, "sharegpt"),
])
def test_every_format_becomes_the_same_conversation(record, fmt):
    assert detect_format(record) == fmt
    expected = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    assert to_messages(record) == expected
    assert to_messages(record, fmt) == expected


def test_alpaca_input_and_sharegpt_system_are_kept():
    assert to_messages({"instruction": "Do", "input": "this", "output": "ok"})[0]["content"] == "Do\n\nthis"
    msgs = to_messages({"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"},
                                          {"from": "gpt", "value": "A"}]})
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]


@pytest.mark.parametrize("record, reason", [
    ({"messages": [{"role": "user", "content": "Q"}, {"role": "bot", "content": "A"}]}, "invalid role"),
    ({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "  "}]}, "empty answer"),
    ({"messages": [{"role": "user", "content": "Q"}]}, "no final answer"),
    ({"messages": [{"role": "assistant", "content": "A"}]}, "no user message"),
    ({"messages": "hello"}, "wrong type"),
    ({"prompt": "Q", "completion": 3}, "wrong type"),
    ({"conversations": [{"from": ["x"], "value": "Q"}]}, "invalid role"),
    ({"text": "plain"}, "unknown format"),
])
def test_invalid_conversations_say_why(record, reason):
    with pytest.raises(FormatError, match=f"^{reason}"):
        to_messages(record)


def test_forced_format_does_not_guess():
    with pytest.raises(FormatError, match="missing field: instruction"):
        to_messages({"prompt": "Q", "completion": "A"}, "alpaca")


# --- rules ---------------------------------------------------------------------------------------------------

CHAT = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]


def test_interactions_keep_only_approved():
    ok = apply_rule("reviewed_interactions", {"messages": CHAT, "task": "policy_qa", "verdict": "approved",
                                              "reviewed_at": "2026-11-01T10:00:00Z"})
    assert (ok.state, ok.task, ok.messages, ok.created_at) == (KEPT, "policy_qa", CHAT, "2026-11-01T10:00:00Z")
    no = apply_rule("reviewed_interactions", {"messages": CHAT, "task": "policy_qa", "verdict": "rejected"})
    assert (no.state, no.reason) == (FILTERED, "not approved: verdict=rejected")
    assert apply_rule("reviewed_interactions", {"messages": CHAT, "task": "x"}).state == REJECTED


def test_corrections_train_on_the_correction_not_the_model_output():
    out = apply_rule("corrected_outputs", {"prompt": "Q", "model_output": "wrong", "corrected_output": "right",
                                           "task": "policy_qa", "corrected_at": "t"})
    assert out.messages == [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "right"}]
    empty = apply_rule("corrected_outputs", {"prompt": "Q", "model_output": "wrong", "corrected_output": "",
                                             "task": "policy_qa"})
    assert (empty.state, empty.reason.split(":")[0]) == (REJECTED, "empty answer")


def test_annotations_become_instruction_plus_document_and_the_annotation():
    order = {"order_id": "NH-1", "item": "lamp", "quantity": 2, "issue": "damaged"}
    out = apply_rule("expert_annotations", {"document": "My lamps broke", "annotation": json.dumps(order),
                                            "task": "extract_order"})
    assert out.messages[0]["content"] == TASK_INSTRUCTIONS["extract_order"] + "\n\nMy lamps broke"
    assert json.loads(out.messages[1]["content"]) == order
    summary = apply_rule("expert_annotations", {"document": "Customer: hi", "annotation": '{"summary": "S."}',
                                                "task": "summarise"})
    assert summary.messages[-1]["content"] == "S."


def test_teacher_score_threshold_is_configurable_and_bad_scores_rejected():
    rec = {"prompt": "Q", "completion": "A", "task": "policy_qa", "score": 0.6}
    assert apply_rule("teacher_synthetic", rec).state == FILTERED
    assert apply_rule("teacher_synthetic", rec, teacher_min_score=0.5).state == KEPT
    assert apply_rule("teacher_synthetic", {**rec, "score": "high"}).reason.startswith("wrong type")
    assert apply_rule("teacher_synthetic", {**rec, "score": True}).state == REJECTED
    assert apply_rule("teacher_synthetic", {**rec, "score": 1.5}).reason.startswith("invalid score")
