"""Filled rating sheets come back from people and spreadsheets: whatever bytes filled.csv holds, reading it for
preference pairs never crashes, and the pairs it yields match the records the accounting check counts."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.preference.checks import _sheet_records
from resources.preference.rated import sheet_pairs
from resources.schema import REJECTED, ROW_STATES

SETTINGS = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SIDES = {"reviewed_interactions/x/1": "A", "reviewed_interactions/x/2": "B"}
cell = st.one_of(st.sampled_from(["A", "b", "tie", "", "maybe", *SIDES]), st.text(max_size=12))
record = st.fixed_dictionaries({"item_id": cell, "prompt": st.text(max_size=30), "response_a": cell,
                                "response_b": cell, "rating": cell, "comment": st.text(max_size=10)})


def _csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["item_id", "prompt", "response_a", "response_b", "rating", "comment"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


content = st.one_of(st.lists(record, max_size=6).map(_csv),
                    st.lists(record, min_size=1, max_size=4).map(_csv).flatmap(  # cut anywhere, garbage appended
                        lambda b: st.tuples(st.integers(0, len(b)), st.binary(max_size=20)).map(
                            lambda t: b[:t[0]] + t[1])),
                    st.binary(max_size=60))


@SETTINGS
@given(content)
def test_any_filled_sheet_reads_into_one_fate_per_record(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ck"
        folder.mkdir()
        (folder / "key.json").write_text(json.dumps({"tuned_side": SIDES}), encoding="utf-8")
        (folder / "filled.csv").write_bytes(data)
        pairs = sheet_pairs(folder, {})
        assert len(pairs) == _sheet_records(folder)
        assert len({p["id"] for p in pairs}) == len(pairs)
        for p in pairs:
            assert p["state"] in ("", *ROW_STATES)
            assert (p["state"] == "") or p["reason"], p
            if p["state"] == "":
                assert p["chosen"] is not None and p["rejected"] is not None
        assert sum(p["state"] == "" for p in pairs) <= len(SIDES)  # each item counted once at most


def test_a_sheet_without_its_key_is_one_rejected_row(tmp_path):
    (tmp_path / "filled.csv").write_text("item_id,rating\nx,A\n", encoding="utf-8")
    pairs = sheet_pairs(tmp_path, {})
    assert [(p["state"], p["line"]) for p in pairs] == [(REJECTED, 0)]
    assert pairs[0]["reason"].startswith("unreadable: FileNotFoundError") and _sheet_records(tmp_path) == 1
