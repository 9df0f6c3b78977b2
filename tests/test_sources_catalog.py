"""SourceCatalog: drop discovery, ingesting the committed sample drops, the ledger, tombstones, determinism."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from resources.schema import EXAMPLE_COLUMNS, LEDGER_COLUMNS, SOURCES, row_id
from resources.sources import SourceCatalog
from resources.storage import content_hash

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
TASKS = {"extract_order", "summarise", "policy_qa"}


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_samples", ROOT / "data" / "generate_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return SourceCatalog(sample_root=str(SAMPLES), incoming_root=str(tmp_path_factory.mktemp("incoming")))


@pytest.fixture(scope="module")
def ingested(catalog, tmp_path_factory):
    """Every sample drop ingested once: (source, drop) -> (summary, examples, ledger)."""
    out = tmp_path_factory.mktemp("sources")
    result = {}
    for source in SOURCES:
        for drop in catalog.list_drops(source):
            summary = catalog.ingest_drop(source, drop, out / source / drop)
            result[source, drop] = (summary, pd.read_parquet(summary.examples_path),
                                    pd.read_parquet(summary.ledger_path))
    return result


def test_sample_drops_are_listed_per_source(catalog):
    assert list(catalog.list_drops("reviewed_interactions")) == ["2026-11-01.jsonl", "2026-11-08.jsonl"]
    assert list(catalog.list_drops("corrected_outputs")) == ["2026-11-05.csv"]
    assert list(catalog.list_drops("expert_annotations")) == ["2026-11-03.parquet"]
    assert list(catalog.list_drops("teacher_synthetic")) == ["2026-11-06.jsonl"]
    with pytest.raises(ValueError, match="unknown source"):
        catalog.list_drops("emails")


def test_every_input_row_is_in_the_ledger_exactly_once(ingested):
    assert len(ingested) == 5
    for (source, drop), (summary, examples, ledger) in ingested.items():
        assert tuple(examples.columns) == EXAMPLE_COLUMNS and tuple(ledger.columns) == LEDGER_COLUMNS
        assert summary.accounted() and len(ledger) == summary.rows_in
        assert ledger["id"].is_unique and (ledger["stage"] == "source").all()
        assert set(ledger["state"]) <= {"kept", "filtered", "rejected"}
        kept_ids = ledger.loc[ledger["state"] == "kept", "id"].tolist()
        assert examples["id"].tolist() == kept_ids and len(kept_ids) == summary.kept
        assert (ledger.loc[ledger["state"] != "kept", "reason"] != "").all()
        assert set(examples["task"]) == TASKS  # the generator's tasks stay visible
        assert (examples["reference"].str.strip() != "").all()
        first = examples.iloc[0]
        assert first["id"] == row_id(source, drop, int(first["row"]))
        assert json.loads(first["messages"])[-1] == {"role": "assistant", "content": first["reference"]}


def test_sample_jsonl_ledger_has_one_row_per_physical_line(ingested):
    for source, drop in [("reviewed_interactions", "2026-11-01.jsonl"), ("teacher_synthetic", "2026-11-06.jsonl")]:
        _, _, ledger = ingested[source, drop]
        n_lines = len((SAMPLES / source / drop).read_bytes().splitlines())
        assert ledger["line"].tolist() == list(range(1, n_lines + 1))


def test_source_rules_show_up_as_filter_reasons(ingested):
    summary, _, ledger = ingested["reviewed_interactions", "2026-11-01.jsonl"]
    assert summary.filtered["not approved"] > 0
    assert (ledger.loc[ledger["state"] == "filtered", "reason"] == "not approved: verdict=rejected").all()
    teacher, _, _ = ingested["teacher_synthetic", "2026-11-06.jsonl"]
    assert teacher.filtered["low score"] > 0
    buckets = dict(teacher.score_histogram)
    assert len(buckets) == 10 and sum(buckets.values()) > teacher.kept
    assert sum(n for b, n in teacher.score_histogram if b < "0.7") == teacher.filtered["low score"]
    corrections, examples, _ = ingested["corrected_outputs", "2026-11-05.csv"]
    raw = pd.read_csv(SAMPLES / "corrected_outputs" / "2026-11-05.csv", on_bad_lines="skip", dtype=str)
    assert not set(examples["reference"]) & (set(raw["model_output"]) - set(raw["corrected_output"]))


def test_malformed_rows_are_rejected_with_file_line_and_reason(ingested):
    _, _, ledger = ingested["reviewed_interactions", "2026-11-08.jsonl"]
    bad = ledger[ledger["state"] == "rejected"]
    reasons = set(bad["reason"].str.split(":").str[0])
    assert {"invalid JSON", "not a JSON object", "wrong type", "invalid role", "empty answer"} <= reasons
    lines = (SAMPLES / "reviewed_interactions" / "2026-11-08.jsonl").read_text("utf-8").split("\n")
    for row in bad[bad["reason"].str.startswith("invalid JSON")].itertuples():
        assert row.file == "2026-11-08.jsonl"
        with pytest.raises(json.JSONDecodeError):
            json.loads(lines[row.line - 1])


def test_ingest_is_deterministic_and_tombstones_erase_rows(catalog, ingested, tmp_path):
    summary, _, ledger = ingested["teacher_synthetic", "2026-11-06.jsonl"]
    again = catalog.ingest_drop("teacher_synthetic", "2026-11-06.jsonl", tmp_path / "again")
    assert again.content_hash == summary.content_hash

    kept_ids = ledger.loc[ledger["state"] == "kept", "id"].tolist()[:3]
    erased = catalog.ingest_drop("teacher_synthetic", "2026-11-06.jsonl", tmp_path / "erased",
                                 tombstones=frozenset(kept_ids + ["teacher_synthetic/other/1"]))
    assert erased.filtered["erased"] == 3 and erased.kept == summary.kept - 3
    assert erased.content_hash != summary.content_hash
    examples = pd.read_parquet(erased.examples_path)
    assert not set(kept_ids) & set(examples["id"])


def test_config_changes_what_is_kept(tmp_path):
    strict = SourceCatalog(sample_root=str(SAMPLES), incoming_root=str(tmp_path / "in"), teacher_min_score=0.9,
                           formats={"teacher_synthetic": "alpaca"})
    s = strict.ingest_drop("teacher_synthetic", "2026-11-06.jsonl", tmp_path / "t")
    assert s.filtered["low score"] > 100  # 0.7..0.9 is now too low as well
    assert s.rejected["missing field"] > 10  # prompt/completion and ShareGPT rows are not alpaca
    bad = SourceCatalog(sample_root=str(SAMPLES), formats={"teacher_synthetic": "yaml"})
    with pytest.raises(ValueError, match="not a format"):
        bad.ingest_drop("teacher_synthetic", "2026-11-06.jsonl", tmp_path / "u")


def test_incoming_drops_files_folders_and_unfinished_transfers(tmp_path):
    incoming = tmp_path / "incoming" / "teacher_synthetic"
    incoming.mkdir(parents=True)
    line = json.dumps({"prompt": "Are returns free?", "completion": "Yes.", "score": 0.9, "task": "policy_qa"})
    (incoming / "batch 12 (final).jsonl").write_text(line + "\n")
    (incoming / "2026-12-01.jsonl.part").write_text(line + "\n")
    (incoming / ".2026-12-02.jsonl").write_text(line + "\n")
    (incoming / "notes.md").write_text("not a drop")
    (incoming / "empty-folder").mkdir()
    folder = incoming / "2026-12-03"
    folder.mkdir()
    (folder / "a.jsonl").write_text(line + "\n" + line + "\n")
    (folder / "b.jsonl").write_text("{broken\n" + line + "\n")
    (folder / "c.jsonl.tmp").write_text(line + "\n")
    (folder / "d.jsonl").write_text("")
    catalog = SourceCatalog(sample_root=str(SAMPLES), incoming_root=str(tmp_path / "incoming"))

    drops = catalog.list_drops("teacher_synthetic")
    assert list(drops) == ["2026-11-06.jsonl", "2026-12-03", "batch_12__final_.jsonl-9d8d31"]  # unsafe name: hashed

    summary = catalog.ingest_drop("teacher_synthetic", "2026-12-03", tmp_path / "out")
    ledger = pd.read_parquet(summary.ledger_path)
    assert ledger[["file", "line", "state"]].values.tolist() == [
        ["a.jsonl", 1, "kept"], ["a.jsonl", 2, "kept"], ["b.jsonl", 1, "rejected"], ["b.jsonl", 2, "kept"]]
    assert ledger["id"].tolist() == [f"teacher_synthetic/2026-12-03/{i}" for i in range(1, 5)]
    assert summary.warnings == ["d.jsonl holds no rows (empty file?)"]

    with pytest.raises(KeyError, match="known: 2026-11-06.jsonl, 2026-12-03"):
        catalog.ingest_drop("teacher_synthetic", "2026-12-01.jsonl", tmp_path / "x")


def test_out_dir_is_replaced_as_a_whole(catalog, tmp_path):
    out = tmp_path / "drop"
    out.mkdir()
    (out / "stale.parquet").write_text("left over from an older run")
    catalog.ingest_drop("expert_annotations", "2026-11-03.parquet", out)
    assert sorted(p.name for p in out.iterdir()) == ["examples.parquet", "files.json", "ledger.parquet"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_catalog_works_as_a_dagster_resource(tmp_path):
    @dg.asset
    def teacher(sources: SourceCatalog) -> dg.MaterializeResult:
        s = sources.ingest_drop("teacher_synthetic", "2026-11-06.jsonl", tmp_path / "t")
        return dg.MaterializeResult(metadata={"kept": s.kept, "hash": s.content_hash})

    catalog = SourceCatalog(sample_root=str(SAMPLES), formats={"teacher_synthetic": "auto"})
    result = dg.materialize([teacher], resources={"sources": catalog}, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert result.asset_materializations_for_node("teacher")[0].metadata["kept"].value > 200


def test_generator_is_deterministic_and_the_committed_samples_are_current(tmp_path):
    gen = load_generator()
    gen.generate(tmp_path / "a", 1)
    gen.generate(tmp_path / "b", 1)
    assert content_hash(tmp_path / "a") == content_hash(tmp_path / "b")
    # the committed files came from another process: equal bytes prove no per-process randomness leaks in
    assert content_hash(tmp_path / "a") == content_hash(SAMPLES), \
        "data/samples is stale: run `python data/generate_samples.py`"
    assert sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file()) <= 2_000_000


def test_generator_scale_multiplies_rows(tmp_path):
    gen = load_generator()
    gen.generate(tmp_path / "s2", 2)
    n1 = len((SAMPLES / "teacher_synthetic" / "2026-11-06.jsonl").read_bytes().splitlines())
    n2 = len((tmp_path / "s2" / "teacher_synthetic" / "2026-11-06.jsonl").read_bytes().splitlines())
    assert n2 == 2 * n1
    shutil.rmtree(tmp_path / "s2")
