"""Hostile files and names (issue 21): each is read or refused with a reason, never a crash or a silent skip."""

from __future__ import annotations

import gzip
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resources.layout import Layout
from resources.sources.catalog import SourceCatalog
from resources.sources.drops import MAX_KEY, drop_key
from resources.sources.files import physical_records, read_rows
from resources.sources.jsonl import physical_lines

TEACHER = {"prompt": "Are returns free?", "completion": "Yes, within 30 days.", "score": 0.9, "task": "policy_qa"}
DEEP = "[" * 5000 + "]" * 5000  # beyond Python's recursion limit when decoded
ANNOTATION = {"doc_id": "1", "document": "Customer asks about returns.", "task": "policy_qa",
              "annotation": json.dumps({"answer": "Returns are free."})}


def _catalog(tmp_path) -> SourceCatalog:
    return SourceCatalog(sample_root=str(tmp_path / "data"), incoming_root=str(tmp_path / "incoming"))


def _ledger(catalog, source, drop, tmp_path) -> pd.DataFrame:
    summary = catalog.ingest_drop(source, drop, Layout(tmp_path / "art").source_drop(source, drop))
    return pd.read_parquet(summary.ledger_path)


def _jsonl(path, *records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("deep", [DEEP, "[" * 100 + "]" * 100])
def test_a_deeply_nested_annotation_is_one_rejected_row_and_the_drop_goes_on(tmp_path, fmt, deep):
    rows = [ANNOTATION, {**ANNOTATION, "annotation": deep}, ANNOTATION]
    folder = tmp_path / "data" / "expert_annotations"
    folder.mkdir(parents=True)
    path = folder / f"d.{fmt}"
    if fmt == "jsonl":
        _jsonl(path, *rows)
    else:
        frame = pd.DataFrame(rows)
        frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    ledger = _ledger(_catalog(tmp_path), "expert_annotations", path.name, tmp_path)
    assert ledger["state"].tolist() == ["kept", "rejected", "kept"]
    assert ledger["reason"][1].split(":")[0] in {"invalid JSON", "too deeply nested"}


def test_drop_keys_never_move_when_a_colliding_name_arrives_later(tmp_path):
    folder = tmp_path / "data" / "teacher_synthetic"
    _jsonl(folder / "fz_late.jsonl", TEACHER)
    catalog = _catalog(tmp_path)
    assert list(catalog.list_drops("teacher_synthetic")) == ["fz_late.jsonl"]
    _jsonl(folder / "fz late.jsonl", TEACHER)
    drops = catalog.list_drops("teacher_synthetic")
    assert drops["fz_late.jsonl"].name == "fz_late.jsonl"  # the first key stays with its drop
    assert drops[drop_key("fz late.jsonl")].name == "fz late.jsonl"
    assert drop_key("fz late.jsonl").startswith("fz_late.jsonl-") and drop_key("fz late.jsonl") == drop_key("fz late.jsonl")


def test_names_near_the_byte_limit_and_names_that_are_not_utf8_are_ingested(tmp_path):
    folder = tmp_path / "data" / "teacher_synthetic"
    long_name = "x" * 249 + ".jsonl"  # 255 bytes: the longest name a file system allows
    _jsonl(folder / long_name, TEACHER)
    _jsonl(folder / "fz_.jsonl", TEACHER)
    bad = os.fsdecode(b"fz\xff.jsonl")  # sanitises to fz_.jsonl
    _jsonl(folder / bad, TEACHER, "{broken")
    catalog = _catalog(tmp_path)
    drops = catalog.list_drops("teacher_synthetic")
    assert len(drops) == 3 and all(len(k) <= MAX_KEY for k in drops)
    assert "fz_.jsonl" in drops and drops["fz_.jsonl"].name == "fz_.jsonl"
    for key, path in drops.items():
        summary = catalog.ingest_drop("teacher_synthetic", key, Layout(tmp_path / "art").source_drop(
            "teacher_synthetic", key))
        assert summary.kept == 1 and summary.name == os.fsencode(path.name).decode("utf-8", "backslashreplace")
    assert pd.read_parquet(summary.ledger_path)["file"].tolist()[0] in {"fz\\xff.jsonl", long_name, "fz_.jsonl"}


def test_an_unclosed_csv_quote_rejects_its_line_and_the_rows_after_it_are_read(tmp_path):
    data = ('prompt,completion,score,task\n'
            'Are returns free?,Yes.,0.9,policy_qa\n'
            'Is shipping free?,"No, 4.90 EUR,0.9,policy_qa\n'   # the quote is never closed
            'Can I pay by invoice?,Yes.,0.9,policy_qa\n'
            '"Do you ship to Norway?","Yes, 9.90 EUR.",0.9,policy_qa\n'
            '"Two\nlines?",Yes.,0.9,policy_qa\n')
    path = tmp_path / "q.csv"
    path.write_text(data)
    items = list(read_rows(path, stats=(stats := {})))
    assert [(i.line, type(i).__name__) for i in items] == [(2, "Row"), (3, "Rejection"), (4, "Row"), (5, "Row"),
                                                          (6, "Row")]
    assert items[1].reason.startswith("unparseable CSV") and "never closed" in items[1].reason
    assert items[3].record["completion"] == "Yes, 9.90 EUR." and items[4].record["prompt"] == "Two\nlines?"
    assert physical_records(path) == 7 == stats["skipped"] + stats["continuation"] + len(items)


def test_a_csv_without_a_header_line_rejects_every_row_instead_of_losing_the_first(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("Are returns free?,Yes.,0.9,policy_qa\nIs shipping free?,No.,0.9,policy_qa\n")
    items = list(read_rows(path, known_columns=["prompt", "completion", "task"]))
    assert [(i.line, i.reason.split(":")[0]) for i in items] == [(1, "no header"), (2, "no header")]


@pytest.mark.parametrize("eol", ["\r", "\r\n", "\n"])
def test_every_line_end_convention_gives_one_row_per_line(tmp_path, eol):
    j, c = tmp_path / "t.jsonl", tmp_path / "t.csv"
    j.write_text(eol.join(json.dumps(TEACHER) for _ in range(3)) + eol, newline="")
    c.write_text(eol.join(["prompt,completion,score,task"] + ["Free?,Yes.,0.9,policy_qa"] * 3) + eol, newline="")
    assert [i.line for i in read_rows(j)] == [1, 2, 3] and physical_records(j) == 3
    assert [i.line for i in read_rows(c)] == [2, 3, 4] and physical_records(c) == 4


def test_line_splitting_is_bounded_and_keeps_crlf_across_chunks(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"abc\r\nde\rfgh\n" + b"x" * 50 + b"\r\nlast")
    with open(path, "rb") as fh:  # chunks of 4 bytes split the \r\n pairs
        lines = list(physical_lines(fh, limit=10, chunk=4))
    assert lines == [(b"abc", 3), (b"de", 2), (b"fgh", 3), (None, 50), (b"last", 4)]
    assert physical_records(path) == 5


def test_a_folder_drop_refuses_what_it_cannot_trust_or_read_and_says_why(tmp_path):
    outside = _jsonl(tmp_path / "elsewhere" / "secret.jsonl", TEACHER)
    inside = _jsonl(tmp_path / "data" / "teacher_synthetic" / "shared" / "x.jsonl.part", TEACHER)
    box = tmp_path / "data" / "teacher_synthetic" / "box"
    _jsonl(box / "a.jsonl", TEACHER)
    _jsonl(box / "sub" / "b.jsonl", TEACHER)
    with gzip.open(box / "c.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(TEACHER) + "\n")
    (box / "d.jsonl").symlink_to(outside)
    (box / "e.jsonl").symlink_to(inside)  # a link inside the data folder is data like any other
    (box / "f.txt").write_text("notes")
    (box / "_SUCCESS").touch()              # an empty marker carries nothing
    (tmp_path / "data" / "teacher_synthetic" / "link.jsonl").symlink_to(outside)
    catalog = _catalog(tmp_path)
    ledger = _ledger(catalog, "teacher_synthetic", "box", tmp_path)
    got = {f: (line, state, reason.split(":")[0]) for f, line, state, reason
           in ledger[["file", "line", "state", "reason"]].itertuples(index=False)}
    assert got == {"a.jsonl": (1, "kept", ""), "c.jsonl.gz": (0, "rejected", "compressed file"),
                   "d.jsonl": (0, "rejected", "refused symlink"), "e.jsonl": (1, "kept", ""),
                   "f.txt": (0, "rejected", "unsupported file"), "sub": (0, "rejected", "nested folder")}
    single = _ledger(catalog, "teacher_synthetic", "link.jsonl", tmp_path)
    assert single["reason"].tolist()[0].startswith("refused symlink") and "secret" not in single["reason"][0]


def test_a_corrupt_parquet_counts_no_physical_rows_but_a_good_one_counts_its_footer(tmp_path):
    good, bad = tmp_path / "g.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), good)
    bad.write_bytes(b"PAR1 not parquet")
    assert physical_records(good) == 3 and physical_records(bad) is None
