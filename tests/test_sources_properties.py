"""Property tests: whatever bytes a drop holds, ingesting it never crashes and accounts for every row once."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.schema import SOURCES
from resources.sources.files import Rejection, read_rows
from resources.sources.ingest import ingest
from resources.sources.rules import apply_rule

MAX_ROW = 300  # small, so the "huge row" path is hit often
# no example database: it would leave a .hypothesis/ folder in the working tree
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text
json_value = st.recursive(json_scalar, lambda kids: st.lists(kids, max_size=3)
                          | st.dictionaries(text, kids, max_size=3), max_leaves=8)
roles = st.sampled_from(["user", "assistant", "system", "bot", "", None, 7])
message = st.fixed_dictionaries({"role": roles, "content": st.one_of(text, json_scalar)})
# records that look like each source, with every field possibly missing or of the wrong type
maybe = lambda s: st.one_of(s, json_value)  # noqa: E731
record = st.one_of(
    st.fixed_dictionaries({}, optional={"messages": maybe(st.lists(message, max_size=3)),
                                        "task": maybe(st.sampled_from(["policy_qa", "summarise", "extract_order"])),
                                        "verdict": maybe(st.sampled_from(["approved", "rejected"])),
                                        "reviewed_at": json_value}),
    st.fixed_dictionaries({}, optional={"prompt": maybe(text), "completion": maybe(text), "score": json_value,
                                        "task": maybe(text), "instruction": maybe(text), "output": maybe(text),
                                        "input": json_value}),
    st.fixed_dictionaries({}, optional={"conversations": maybe(st.lists(st.fixed_dictionaries(
        {"from": st.sampled_from(["human", "gpt", "system", "bot"]), "value": maybe(text)}), max_size=3)),
        "score": st.floats(0, 1), "task": text}),
    st.fixed_dictionaries({}, optional={"document": maybe(text), "annotation": maybe(text), "task": maybe(text),
                                        "corrected_output": maybe(text), "annotated_at": json_value}),
    st.dictionaries(text, json_value, max_size=4),
)


def good_line(r: dict) -> bytes:
    return json.dumps(r, ensure_ascii=False).encode("utf-8")


jsonl_line = st.one_of(
    record.map(good_line),
    json_value.map(lambda v: json.dumps(v).encode()),               # valid JSON, often not an object
    record.map(lambda r: good_line(r)[: max(1, len(good_line(r)) // 2)]),  # truncated
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),  # garbage, often not UTF-8
    st.just(b""), st.just(b"   \t"),                                  # blank lines
    st.integers(MAX_ROW + 1, 2000).map(lambda n: b'{"x": "' + b"y" * n + b'"}'),  # over the row limit
)


def run_ingest(source: str, path: Path, out: Path, **kw):
    summary = ingest(source, "drop", [path], out, max_row_bytes=MAX_ROW, **kw)
    return summary, pd.read_parquet(out / "ledger.parquet"), pd.read_parquet(out / "examples.parquet")


def check_accounting(summary, ledger, examples, expected_rows: int):
    assert summary.accounted() and summary.rows_in == expected_rows == len(ledger)
    assert ledger["id"].is_unique
    assert set(ledger["state"]) <= {"kept", "filtered", "rejected"}
    assert examples["id"].tolist() == ledger.loc[ledger["state"] == "kept", "id"].tolist()
    not_kept = ledger[ledger["state"] != "kept"]
    assert (not_kept["reason"].str.len() > 0).all()
    assert (not_kept["file"] != "").all()
    for m in examples["messages"]:  # whatever went in, what comes out is a valid conversation
        msgs = json.loads(m)
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"].strip()


@SETTINGS
@given(lines=st.lists(jsonl_line, max_size=25), source=st.sampled_from(SOURCES), trailing_newline=st.booleans())
def test_jsonl_every_line_accounted_for(lines, source, trailing_newline):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "drop.jsonl"
        path.write_bytes(data)
        summary, ledger, examples = run_ingest(source, path, Path(d) / "out")
    physical = data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n") if data else []
    check_accounting(summary, ledger, examples, len(physical))
    assert ledger["line"].tolist() == list(range(1, len(physical) + 1))
    for i, raw in enumerate(physical, 1):  # each malformed line is named with its reason
        state, reason = ledger.iloc[i - 1][["state", "reason"]]
        if len(raw) > MAX_ROW:
            assert (state, reason.split(":")[0]) == ("rejected", "row too large")
        elif not raw.strip():
            assert (state, reason) == ("rejected", "blank line")
        else:
            try:
                ok = isinstance(json.loads(raw.decode("utf-8")), dict)
            except (UnicodeDecodeError, ValueError, RecursionError):
                ok = False
            if not ok:
                assert state == "rejected"
                assert reason.split(":")[0] in {"undecodable bytes", "invalid JSON", "not a JSON object"}


csv_field = st.one_of(text, st.just(""), st.text(alphabet=',"\n\r x', max_size=8))
csv_row = st.one_of(
    st.lists(csv_field, min_size=0, max_size=7).map(lambda fs: ("text", fs)),
    st.binary(min_size=1, max_size=10).filter(lambda b: not set(b) & set(b',"\n\r')).map(lambda b: ("bytes", b)),
    st.integers(MAX_ROW + 1, 20_000).map(lambda n: ("text", ["p" * n, "c", "t", "", ""])),
)
HEADER = ["prompt", "model_output", "corrected_output", "task", "corrected_at"]


def csv_record(fields: list[str]) -> bytes:
    buf = io.StringIO()
    # "\r\n" (as Excel writes): the csv module only quotes line-break characters that are in lineterminator
    csv.writer(buf, lineterminator="\r\n").writerow(fields)
    return buf.getvalue().encode("utf-8")


@SETTINGS
@given(rows=st.lists(csv_row, max_size=20))
def test_csv_every_record_accounted_for(rows):
    data = csv_record(HEADER)
    for kind, value in rows:
        # raw bytes become one unquoted field plus four empty ones: same shape, possibly not UTF-8
        data += csv_record(value) if kind == "text" else value + b",,,,\r\n"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "drop.csv"
        path.write_bytes(data)
        summary, ledger, examples = run_ingest("corrected_outputs", path, Path(d) / "out")
    check_accounting(summary, ledger, examples, len(rows))
    for (kind, value), (_, row) in zip(rows, ledger.iterrows()):
        if kind == "text" and len(value) not in (0, len(HEADER)) and sum(len(v.encode()) for v in value) <= MAX_ROW:
            if not (len(value) == 1 and not value[0].strip()):
                assert row["reason"].startswith("wrong column count"), (value, row["reason"])


cell = st.one_of(st.none(), text, st.text(min_size=MAX_ROW + 1, max_size=MAX_ROW + 5))


@SETTINGS
@given(n=st.integers(0, 12), data=st.data(),
       columns=st.lists(st.sampled_from(["doc_id", "document", "annotation", "task", "annotated_at", "other"]),
                        unique=True, max_size=6),
       typed=st.booleans())
def test_parquet_every_row_accounted_for(n, data, columns, typed):
    cols = {c: data.draw(st.lists(cell, min_size=n, max_size=n)) for c in columns}
    if typed and columns:  # one column of the wrong Parquet type
        cols[columns[0]] = data.draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n))
    table = pa.table(cols) if cols else pa.table({"empty": pa.array([None] * n, pa.string())})
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "drop.parquet"
        pq.write_table(table, path)
        summary, ledger, examples = run_ingest("expert_annotations", path, Path(d) / "out")
    check_accounting(summary, ledger, examples, n)


@SETTINGS
@given(garbage=st.binary(max_size=200))
def test_corrupt_parquet_is_one_rejection(garbage):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "drop.parquet"
        path.write_bytes(garbage)
        items = list(read_rows(path))
    assert all(isinstance(i, Rejection) for i in items) and len(items) <= 1
    assert bool(items) == bool(garbage)


@SETTINGS
@given(rec=record, source=st.sampled_from(SOURCES), fmt=st.sampled_from(["auto", "chat", "alpaca",
                                                                         "prompt_completion", "sharegpt"]),
       min_score=st.floats(0, 1))
def test_rules_never_raise_on_any_record(rec, source, fmt, min_score):
    out = apply_rule(source, rec, fmt=fmt, teacher_min_score=min_score)
    assert out.state in {"kept", "filtered", "rejected"}
    assert (out.state == "kept") == (out.reason == "")
