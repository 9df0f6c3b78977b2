"""Ledger merging across stages and the row-accounting check (rows in == kept + duplicate + filtered + rejected)."""

import pandas as pd
import pytest

from resources.prepare.accounting import account, merge_ledgers
from resources.prepare.config import PrepareConfig
from resources.schema import LEDGER_COLUMNS, ledger_entry


def _led(*rows):
    return pd.DataFrame([ledger_entry(**r) for r in rows], columns=list(LEDGER_COLUMNS))


def _row(n, state="kept", source="reviewed_interactions", drop="d1", stage="source", **kw):
    return dict(id=f"{source}/{drop}/{n}", source=source, drop=drop, file=kw.pop("file", ""), line=kw.pop("line", 0),
                state=state, stage=stage, **kw)


def _pipeline():
    """Ten rows through source -> normalise -> dedup -> trim -> decontaminate, as the stages write them."""
    src = _led(*[_row(n, file="d1/data.jsonl", line=n) for n in range(1, 10)],
               _row(10, "rejected", file="d1/data.jsonl", line=10, reason="invalid JSON: Expecting ','"))
    norm = _led(*[_row(n, stage="normalise") for n in range(1, 9)],
                _row(9, "filtered", stage="normalise", reason="empty_answer"))
    dedup = _led(*[_row(n, stage="dedup") for n in range(1, 7)],
                 _row(7, "duplicate", stage="dedup", duplicate_of="reviewed_interactions/d1/1"),
                 _row(8, "duplicate", stage="dedup", duplicate_of="reviewed_interactions/d1/2"))
    trim = _led(*[_row(n, stage="trim") for n in range(1, 6)],
                _row(6, "filtered", stage="trim", reason="answer_too_long"))
    # a later stage claiming "kept" for an already decided row must not revive it
    decon = _led(*[_row(n, stage="decontaminate") for n in (1, 2, 3, 9)],
                 _row(4, "filtered", stage="decontaminate", reason="contaminates_benchmark"))
    return src, norm, dedup, trim, decon


def test_merge_keeps_one_final_decision_per_id():
    merged = merge_ledgers(*_pipeline())
    assert list(merged.columns) == list(LEDGER_COLUMNS) and len(merged) == 10 and merged["id"].is_unique
    final = merged.set_index("id")
    assert final.loc["reviewed_interactions/d1/1", "state"] == "kept"
    assert final.loc["reviewed_interactions/d1/1", "stage"] == "decontaminate"
    assert final.loc["reviewed_interactions/d1/4", "reason"] == "contaminates_benchmark"
    assert final.loc["reviewed_interactions/d1/6", "reason"] == "answer_too_long"
    assert final.loc["reviewed_interactions/d1/7", "duplicate_of"] == "reviewed_interactions/d1/1"
    assert final.loc["reviewed_interactions/d1/9", ["state", "reason"]].tolist() == ["filtered", "empty_answer"]
    assert final.loc["reviewed_interactions/d1/10", "state"] == "rejected"
    # file and line survive from the source reader although later stages do not know them
    assert final.loc["reviewed_interactions/d1/6", ["file", "line"]].tolist() == ["d1/data.jsonl", 6]
    counts = merged["state"].value_counts().to_dict()
    assert counts == {"kept": 4, "filtered": 3, "duplicate": 2, "rejected": 1}


def test_balanced_books_have_no_problems():
    report = account(merge_ledgers(*_pipeline()), {("reviewed_interactions", "d1"): 10}, warn_rate=0.05,
                     fail_rate=0.25)
    assert report.ok, report.problems
    row = report.table.iloc[0].to_dict()
    assert (row["rows_in"], row["kept"], row["duplicate"], row["filtered"], row["rejected"]) == (10, 4, 2, 3, 1)
    assert row["balanced"] and row["reject_rate"] == 0.1
    assert report.sources.iloc[0]["status"] == "warn" and len(report.warnings) == 1  # 10 % > 5 %


def test_vanished_and_unknown_rows_are_problems():
    merged = merge_ledgers(*_pipeline())
    lost = merged[merged["id"] != "reviewed_interactions/d1/5"]
    report = account(lost, {("reviewed_interactions", "d1"): 10})
    assert not report.ok and "9 accounted for" in report.problems[0] and "vanished" in report.problems[0]
    extra = pd.concat([merged, _led(_row(1, source="corrected_outputs", drop="d9"))])
    assert any("corrected_outputs/d9" in p for p in account(extra, {("reviewed_interactions", "d1"): 10}).problems)


def test_inputs_given_as_rows_check_every_id():
    merged = merge_ledgers(*_pipeline())
    inputs = pd.DataFrame({"id": merged["id"], "source": merged["source"], "drop": merged["drop"]})
    assert account(merged, inputs).ok
    swapped = merged.copy()
    swapped.loc[0, "id"] = "reviewed_interactions/d1/99"
    problems = account(swapped, inputs).problems
    assert any("no ledger row" in p and "reviewed_interactions/d1/1" in p for p in problems)


def test_high_reject_rate_fails_per_source():
    ledger = _led(*[_row(n) for n in range(1, 7)], *[_row(n, "rejected", reason="missing field 'answer'")
                                                      for n in range(7, 11)],
                  *[_row(n, source="teacher_synthetic") for n in range(1, 5)])
    inputs = pd.DataFrame({"source": ["reviewed_interactions", "teacher_synthetic"], "drop": ["d1", "d1"],
                           "rows_in": [10, 4]})
    report = account(ledger, inputs, warn_rate=0.05, fail_rate=0.25)
    assert not report.ok and len(report.problems) == 1 and "reviewed_interactions" in report.problems[0]
    assert report.sources.set_index("source")["status"].to_dict() == {"reviewed_interactions": "fail",
                                                                      "teacher_synthetic": "ok"}


def test_malformed_ledger_rows_are_problems():
    ledger = pd.DataFrame([
        {**ledger_entry(id="s/d/1", source="s", drop="d", file="", line=1, state="kept"), "id": "s/d/1"},
        ledger_entry(id="s/d/1", source="s", drop="d", file="", line=1, state="filtered", reason="x"),
        ledger_entry(id="s/d/2", source="s", drop="d", file="", line=2, state="duplicate"),
        ledger_entry(id="s/d/3", source="s", drop="d", file="", line=3, state="filtered"),
    ])
    problems = " | ".join(account(ledger, {("s", "d"): 4}).problems)
    assert "more than one ledger row" in problems and "do not say what they duplicate" in problems
    assert "give no reason" in problems


def test_prepare_config_defaults_and_validation():
    cfg = PrepareConfig()
    assert (cfg.max_tokens, cfg.trim_mode, cfg.eval_fraction, cfg.min_eval) == (512, "truncate", 0.1, 8)
    assert (cfg.reject_warn_rate, cfg.reject_fail_rate) == (0.05, 0.25)
    assert cfg.check().normalise_config().unicode_form == "NFC"
    assert PrepareConfig(unicode_form="").normalise_config().unicode_form is None
    with pytest.raises(ValueError, match="trim_mode"):
        PrepareConfig(trim_mode="squeeze").check()
    with pytest.raises(ValueError, match="eval_fraction"):
        PrepareConfig(eval_fraction=1.5).check()
