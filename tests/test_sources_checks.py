"""Bad drops look bad in the UI: per-partition checks on the source assets, evaluated while the drop is ingested."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from assets import DROP_PARTITIONS
from assets.sources import source_assets
from resources.artifact_store import ArtifactStore
from resources.sources import SourceCatalog

ASSETS = {a.key.to_user_string(): a for a in source_assets}
CHAT = [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "On its way."}]
GOOD = {"messages": CHAT, "task": "policy_qa", "verdict": "approved"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:  # one for the module: starting an instance costs seconds
        yield inst


def materialize(instance, tmp_path: Path, drop: str, data: bytes, source: str = "reviewed_interactions", **catalog):
    """Ingest one real file as a drop partition; returns the checks' evaluations by name."""
    folder = tmp_path / "samples" / source
    folder.mkdir(parents=True, exist_ok=True)
    (folder / drop).write_bytes(data)
    resources = {"catalog": SourceCatalog(sample_root=str(tmp_path / "samples"),
                                          incoming_root=str(tmp_path / "incoming"), **catalog),
                 "store": ArtifactStore(root=str(tmp_path / "artifacts"))}
    instance.add_dynamic_partitions(DROP_PARTITIONS[source].name, [drop])
    result = dg.materialize([ASSETS[source]], resources=resources, instance=instance, partition_key=drop)
    assert result.success  # the drop still materialises; the checks say what is wrong with it
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {e.partition for e in evaluations.values()} == {drop}  # a verdict per drop, not one for the asset
    return evaluations


def first_rejected(evaluation) -> str:
    return evaluation.metadata["first_rejected"].value


def test_good_drop_passes_both_checks(instance, tmp_path):
    checks = materialize(instance, tmp_path, "good.jsonl", jsonl(*[GOOD] * 5))
    assert checks["files_readable"].passed and checks["reject_rate"].passed
    assert first_rejected(checks["reject_rate"]) == "none"


def test_drop_with_every_row_rejected_fails_with_its_first_rejected_lines(instance, tmp_path):
    bad = jsonl({**GOOD, "messages": CHAT[:1]}, {"verdict": "approved"}) + b"{not json\n"
    checks = materialize(instance, tmp_path, "bad.jsonl", bad)
    rate = checks["reject_rate"]
    assert not rate.passed and rate.severity == dg.AssetCheckSeverity.ERROR
    assert rate.description == "every row rejected (3 of 3)"
    table = first_rejected(rate)
    assert "| bad.jsonl | 1 | no final answer" in table
    assert "| bad.jsonl | 2 | missing field: task" in table
    assert "| bad.jsonl | 3 | invalid JSON" in table
    assert checks["files_readable"].passed  # the file is text; its rows are the problem


def test_empty_file_fails_as_an_empty_drop(instance, tmp_path):
    checks = materialize(instance, tmp_path, "empty.jsonl", b"")
    for name in ("files_readable", "reject_rate"):
        assert not checks[name].passed and checks[name].severity == dg.AssetCheckSeverity.ERROR, name
        assert "| empty.jsonl | 0 | empty file: holds no rows |" in first_rejected(checks[name])
    assert checks["reject_rate"].description == "empty drop: no rows to read"


@pytest.mark.parametrize("drop", ["photo.jsonl", "photo.csv", "photo.parquet"])
def test_binary_file_fails_as_unreadable_with_its_rejected_lines(instance, tmp_path, drop):
    checks = materialize(instance, tmp_path, drop, PNG * 4)
    readable = checks["files_readable"]
    assert not readable.passed and readable.severity == dg.AssetCheckSeverity.ERROR
    table = first_rejected(readable)
    assert f"| {drop} | 0 | " in table and ("binary file" in table or "unreadable Parquet" in table)
    assert not checks["reject_rate"].passed and checks["reject_rate"].severity == dg.AssetCheckSeverity.ERROR


def test_reject_rate_over_the_configured_threshold_warns(instance, tmp_path):
    data = jsonl(*[GOOD] * 8) + b"[1]\n" + jsonl(GOOD)
    warned = materialize(instance, tmp_path / "a", "some.jsonl", data, reject_warn_rate=0.05)["reject_rate"]
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert "1 of 10 rows rejected (10.0% > reject_warn_rate 5.0%)" == warned.description
    assert "| some.jsonl | 9 | not a JSON object" in first_rejected(warned)
    assert materialize(instance, tmp_path / "b", "some.jsonl", data, reject_warn_rate=0.2)["reject_rate"].passed
