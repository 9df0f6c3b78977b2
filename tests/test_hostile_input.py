"""Bounded fuzz: seeded hostile drops of every source and format through the real ingest and prepare jobs.

No run may fail, every physical record must be in the final ledger exactly once (the blocking ``rows_accounted``
check must pass, holding the ledger against the files' own line and record counts), and nothing malformed may
reach the training set (tests/hostile_inputs.py plants the records and knows which are malformed).
"""

from __future__ import annotations

import json
import os

import dagster as dg
import pandas as pd
import pytest

from hostile_inputs import MAX_ROW, generate
from pipelines.definitions import build_definitions
from pipelines.run_all import register_drops
from resources.layout import Layout
from resources.schema import SOURCES
from conftest import pipeline_settings

SEED = int(os.environ.get("PRIVFT_FUZZ_SEED", "21"))


def _display(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    planted = generate(tmp / "data", seed=SEED, rows=12)
    settings = pipeline_settings(tmp, catalog={"sample_root": str(tmp / "data"), "max_row_bytes": MAX_ROW},
                                 # half the rows are malformed on purpose: the reject rate must not stop the run
                                 prepare={"reject_warn_rate": 0.99, "reject_fail_rate": 1.0})
    defs = build_definitions(settings)
    runs = []
    with dg.instance_for_test() as instance:
        for source, drops in register_drops(defs, instance).items():
            for drop in drops:
                runs.append(defs.resolve_job_def(f"ingest_{source}").execute_in_process(
                    instance=instance, partition_key=drop, raise_on_error=False))
        runs.append(defs.resolve_job_def("prepare_job").execute_in_process(instance=instance, raise_on_error=False))
        keys = {s: {_display(p.name): k for k, p in defs.resources["catalog"].list_drops(s).items()} for s in SOURCES}
        checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
                  for e in runs[-1].all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    return {"planted": planted, "runs": runs, "keys": keys, "checks": checks,
            "layout": Layout(tmp / "artifacts")}


def test_no_run_fails(fuzzed):
    failed = [r.run_id for r in fuzzed["runs"] if not r.success]
    assert not failed and len(fuzzed["runs"]) > 20


def _keys(fuzzed) -> tuple[dict, list]:
    """Planted records and final ledger rows, each by (source, drop key, file in a folder drop, line)."""
    def key(p):
        return p.source, fuzzed["keys"][p.source][_display(p.drop)], p.file, p.line

    folders = {key(p)[:2] for p in fuzzed["planted"] if p.file}
    ledger = pd.read_parquet(fuzzed["layout"].datasets() / "ledger.parquet")
    where: dict = {}
    for r in ledger.to_dict("records"):
        in_folder = (r["source"], r["drop"]) in folders
        where.setdefault((r["source"], r["drop"], r["file"] if in_folder else "", int(r["line"])), []).append(r)
    return where, [(key(p), p) for p in fuzzed["planted"]]


def test_every_physical_record_is_in_the_ledger_exactly_once(fuzzed):
    where, planted = _keys(fuzzed)
    lost = [k for k, _ in planted if len(where.get(k, [])) != 1]
    extra = set(where) - {k for k, _ in planted}
    assert not lost and not extra, (lost[:5], sorted(extra)[:5])
    assert sum(map(len, where.values())) == len(planted) > 250
    rows = fuzzed["checks"]["rows_accounted"]
    assert rows.passed, rows.metadata["problems"].value
    assert rows.metadata["physical_records"].value == len(planted)


def test_nothing_malformed_reaches_the_training_set(fuzzed):
    where, planted = _keys(fuzzed)
    bad = [where[k][0] for k, p in planted if not p.valid]
    assert len(bad) > 80 and {r["state"] for r in bad} <= {"rejected", "filtered"}
    folder = fuzzed["layout"].datasets()
    data = pd.concat([pd.read_parquet(folder / f) for f in ("train.parquet", "eval.parquet")])
    assert not {r["id"] for r in bad} & set(data["id"]) and len(data) > 40
    for rec in data.to_dict("records"):
        assert rec["task"].strip(), rec["id"]
        for m in json.loads(rec["messages"]):
            text = m["content"]
            assert "\0" not in text and not any("\ud800" <= c <= "\udfff" for c in text), rec["id"]
            assert m["role"] != "user" or text.strip(), rec["id"]


def test_hostile_files_are_refused_with_their_reason(fuzzed):
    ledger = pd.read_parquet(fuzzed["layout"].datasets() / "ledger.parquet")
    refused = ledger[ledger["line"] == 0].set_index("file")["reason"]
    assert refused["sub"].startswith("nested folder") and refused["c.jsonl.gz"].startswith("compressed file")
    assert refused["d.jsonl"].startswith("refused symlink")
    assert refused[f"s{SEED}-link.jsonl"].startswith("refused symlink")
    reasons = set(ledger["reason"].str.split(":").str[0])
    assert {"too deeply nested", "invalid characters", "empty message", "no header",
            "unparseable CSV"} <= reasons, reasons


def test_hostile_corrections_become_accounted_preference_pairs(fuzzed):
    check = fuzzed["checks"]["pairs_accounted"]
    assert check.passed, check.metadata["problems"].value
    folder = fuzzed["layout"].preferences()
    ledger = pd.read_parquet(folder / "ledger.parquet")
    corrections = ledger[ledger["source"] == "corrected_outputs"]
    assert len(corrections) == sum(len(pd.read_parquet(d / "ledger.parquet"))
                                   for d in fuzzed["layout"].source_drops("corrected_outputs")) > 20
    pairs = pd.concat([pd.read_parquet(folder / f) for f in ("train.parquet", "eval.parquet")])
    for rec in pairs.to_dict("records"):
        texts = [rec["chosen"], rec["rejected"], *(m["content"] for m in json.loads(rec["prompt"]))]
        assert rec["chosen"].strip() and rec["rejected"].strip() and rec["chosen"] != rec["rejected"], rec["id"]
        assert not any("\0" in t or any("\ud800" <= c <= "\udfff" for c in t) for t in texts), rec["id"]
