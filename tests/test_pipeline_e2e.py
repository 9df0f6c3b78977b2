"""The whole graph on a reduced embedded default, in a temporary Dagster instance: what `make run` does."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from conftest import pipeline_settings
from pipelines.definitions import build_definitions
from pipelines.run_all import run_pipeline
from resources.schema import SOURCES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "home").mkdir()
    defs = build_definitions(pipeline_settings(tmp))
    with dg.instance_for_test(temp_dir=str(tmp / "home")) as instance:
        first = run_pipeline(defs, instance, log=lambda m: None)
        reports = sorted((tmp / "artifacts" / "evaluations").glob("*/report.json"))
        stamps = {p: p.stat().st_mtime_ns for p in reports}
        second = run_pipeline(defs, instance, log=lambda m: None)
        first["report_stamps_unchanged"] = all(p.stat().st_mtime_ns == t for p, t in stamps.items()) and bool(stamps)
        yield {"tmp": tmp, "defs": defs, "instance": instance, "first": first, "second": second,
               "root": tmp / "artifacts"}


def test_every_asset_is_materialised_with_a_data_version(pipeline):
    instance, defs = pipeline["instance"], pipeline["defs"]
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] in ("erasure_report", "human_ratings"):
            continue  # materialised when an erasure request or a filled rating sheet arrives
        event = instance.get_latest_materialization_event(key)
        assert event is not None, f"{key.to_user_string()} was never materialised"
        if key.path[0] != "smoke_inference":
            assert event.asset_materialization.tags.get("dagster/data_version"), key


def test_every_input_row_is_accounted_for_and_bad_rows_name_file_and_line(pipeline):
    datasets = pipeline["root"] / "prepared" / "datasets"
    ledger = pd.read_parquet(datasets / "ledger.parquet")
    accounting = pd.read_parquet(datasets / "accounting.parquet")
    assert accounting["balanced"].all()
    assert ledger["id"].is_unique
    assert set(ledger["state"]) <= {"kept", "duplicate", "filtered", "rejected"}
    rejected = ledger[ledger["state"] == "rejected"]
    assert len(rejected) > 0
    assert (rejected["file"].str.len() > 0).all() and (rejected["line"] > 0).all() and (rejected["reason"].str.len() > 0).all()
    duplicates = ledger[ledger["state"] == "duplicate"]
    assert len(duplicates) > 0 and duplicates["duplicate_of"].isin(ledger["id"]).all()
    train = pd.read_parquet(datasets / "train.parquet")
    assert set(train["id"]) <= set(ledger.loc[ledger["state"] == "kept", "id"])


def test_fine_tuning_beats_the_base_model_on_held_out_data(pipeline):
    summary = json.loads((pipeline["root"] / "evaluations" / "summary.json").read_text())
    zero_shot = summary["baselines"]["zero_shot"]
    last = max(summary["checkpoints"], key=lambda c: c["step"])
    assert last["metrics"]["loss"] < zero_shot["loss"], (last["metrics"], zero_shot)
    assert last["metrics"]["token_f1"] >= zero_shot["token_f1"], (last["metrics"], zero_shot)
    assert summary["best"] is not None
    # the gain over prompting comes with its paired-bootstrap interval, over every held-out item
    best = next(c for c in summary["checkpoints"] if c["checkpoint"] == summary["best"]["checkpoint"])
    gain = summary["significance"]["zero_shot"]["token_f1"]
    assert gain["n"] == best["metrics"]["n"] and gain["ci_low"] <= gain["diff"] <= gain["ci_high"]
    assert abs(gain["diff"] - (best["metrics"]["token_f1"] - zero_shot["token_f1"])) < 1e-9


def test_merged_model_loads_with_plain_transformers_and_generates(pipeline):
    registry = pipeline["root"] / "registry" / "nordlicht-support"
    promoted = json.loads((registry / "promoted.json").read_text())["version"]
    merged = registry / promoted / "merged"
    code = ("import sys, transformers\n"
            f"m = transformers.AutoModelForCausalLM.from_pretrained({str(merged)!r})\n"
            f"t = transformers.AutoTokenizer.from_pretrained({str(merged)!r})\n"
            "ids = t.apply_chat_template([{'role': 'user', 'content': 'Where is my order?'}], add_generation_prompt=True, return_tensors='pt', return_dict=True)\n"
            "out = m.generate(**ids, max_new_tokens=8, do_sample=False)\n"
            "assert out.shape[1] > ids['input_ids'].shape[1]\n"
            "assert 'peft' not in sys.modules\n"
            "print('generated', out.shape[1] - ids['input_ids'].shape[1])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "generated 8" in result.stdout or "generated" in result.stdout
    assert (registry / promoted / "MODEL_CARD.md").exists() and (registry / promoted / "manifest.json").exists()


def test_first_version_is_promoted_for_beating_the_base_model_on_the_current_held_out_set(pipeline):
    registry = pipeline["root"] / "registry" / "nordlicht-support"
    pointer = json.loads((registry / "promoted.json").read_text())
    assert "beats the base model zero-shot" in pointer["reason"], pointer
    manifest = json.loads((registry / pointer["version"] / "manifest.json").read_text())
    compared = manifest["comparison"]
    assert compared["incumbent"] is None and compared["held_out"] == manifest["evaluation"]["held_out"]
    assert compared["candidate"]["value"] > compared["base_zero_shot"]
    assert compared["held_out"]["data_version"] in (registry / pointer["version"] / "MODEL_CARD.md").read_text()
    shown = pipeline["instance"].get_latest_materialization_event(dg.AssetKey("promoted_model"))
    assert shown.asset_materialization.metadata["held_out_data_version"].value == compared["held_out"]["data_version"]


def test_the_run_ends_with_a_summary_of_rows_metrics_version_folder_and_promotion(pipeline):
    root = pipeline["root"]
    registry = root / "registry" / "nordlicht-support"
    pointer = json.loads((registry / "promoted.json").read_text())
    summary = json.loads((root / "evaluations" / "summary.json").read_text())
    ledger = pd.read_parquet(root / "prepared" / "datasets" / "ledger.parquet")
    for run in ("first", "second"):  # the second run changed nothing, and says the same
        lines = pipeline[run]["summary"]
        text = "\n".join(lines)
        assert lines[0].startswith("pipeline complete in ")
        assert f"rows: {len(ledger)} in -> {int((ledger['state'] == 'kept').sum())} kept" in text
        assert f"best checkpoint: {summary['best']['checkpoint']}" in text
        best = next(c for c in summary["checkpoints"] if c["checkpoint"] == summary["best"]["checkpoint"])
        row = next(line.split() for line in lines if line.strip().startswith("token_f1 "))
        assert row[1:] == [f"{summary['baselines']['zero_shot']['token_f1']:.3f}",
                           f"{summary['baselines']['few_shot']['token_f1']:.3f}", f"{best['metrics']['token_f1']:.3f}"]
        assert "forgetting: not flagged" in text and "smoke check" in text
        assert f"model: nordlicht-support {pointer['version']}" in text
        assert f"at {registry / pointer['version']} " in text
        assert "promoted: yes" in text and pointer["reason"] in text
        gguf = root / "exports" / "nordlicht-support" / pointer["version"] / "f16"
        assert f"GGUF f16: {next(gguf.glob('*.gguf'))} (ollama create nordlicht-support -f {gguf / 'Modelfile'})" in text
        assert f"new data: drop files into {pipeline['tmp'] / 'incoming' / '<source>'}/" in text
    # the folders the README tells an operator to drop files into exist after the first run
    assert all((pipeline["tmp"] / "incoming" / source).is_dir() for source in SOURCES)


def test_second_run_on_unchanged_data_changes_nothing(pipeline):
    root = pipeline["root"]
    registry = root / "registry" / "nordlicht-support"
    versions = [p.name for p in registry.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(versions) == 1, versions
    assert pipeline["first"]["checkpoints"] == pipeline["second"]["checkpoints"]
    assert pipeline["first"]["report_stamps_unchanged"], "unchanged checkpoints and data must not be re-evaluated"
    instance = pipeline["instance"]
    # the same training set gives the same data version twice: automation sees no change
    records = instance.fetch_materializations(dg.AssetKey("training_datasets"), limit=2).records
    versions_seen = {r.asset_materialization.tags["dagster/data_version"] for r in records}
    assert len(records) == 2 and len(versions_seen) == 1


def test_schedule_skips_when_nothing_new(pipeline):
    from pipelines.automation import nightly_retrain

    with dg.build_schedule_context(instance=pipeline["instance"]) as context:
        result = nightly_retrain(context)
    assert isinstance(result, dg.SkipReason), result


def test_a_near_duplicate_only_drop_prepares_data_but_does_not_retrain(pipeline):
    """Runs last: it adds a drop. Data preparation follows it; training does not, its input did not change."""
    from pipelines.automation import nightly_retrain
    from pipelines.run_all import register_drops

    instance, defs, tmp = pipeline["instance"], pipeline["defs"], pipeline["tmp"]
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    ledger = pd.read_parquet(pipeline["root"] / "prepared" / "datasets" / "ledger.parquet")
    kept = ledger[(ledger["state"] == "kept") & (ledger["drop"] == "2026-11-01.jsonl")].sort_values("line")
    lines = open(defs.resources["catalog"].list_drops("reviewed_interactions")["2026-11-01.jsonl"]).read().splitlines()
    row = json.loads(lines[int(kept["line"].iloc[0]) - 1])
    row["messages"][-1]["content"] = row["messages"][-1]["content"] + " "  # whitespace only: same after normalising
    incoming = tmp / "incoming" / "reviewed_interactions"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "2026-11-30.jsonl").write_text(json.dumps(row) + "\n")

    pending = register_drops(defs, instance)
    assert pending["reviewed_interactions"] == ["2026-11-30.jsonl"]
    defs.resolve_job_def("ingest_reviewed_interactions").execute_in_process(instance=instance,
                                                                             partition_key="2026-11-30.jsonl")
    with dg.build_schedule_context(instance=instance) as context:
        assert isinstance(nightly_retrain(context), dg.RunRequest), "new data arrived since the last training"

    after_ingest = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert after_ingest.get_num_requested(dg.AssetKey("normalised_examples")) == 1
    defs.resolve_job_def("prepare_job").execute_in_process(instance=instance)
    after_prepare = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_ingest.cursor)
    assert after_prepare.get_num_requested(dg.AssetKey("qlora_adapter")) == 0
    assert after_prepare.get_num_requested(dg.AssetKey("training_datasets")) == 0
    ledger = pd.read_parquet(pipeline["root"] / "prepared" / "datasets" / "ledger.parquet")
    new = ledger[ledger["drop"] == "2026-11-30.jsonl"]
    assert list(new["state"]) == ["duplicate"]


def test_unchanged_promoted_version_is_not_smoke_tested_again(pipeline):
    """The second run promotes the same content-derived version; its smoke result is reused, not recomputed."""
    events = pipeline["instance"].fetch_materializations(dg.AssetKey("smoke_inference"), limit=10).records
    runs = [e.asset_materialization.metadata for e in sorted(events, key=lambda r: r.timestamp)]
    assert len(runs) == 2
    assert runs[0]["reused_earlier_result"].value is False
    assert runs[1]["reused_earlier_result"].value is True
    assert runs[1]["version"].value == runs[0]["version"].value
    assert runs[1]["answers"].value == runs[0]["answers"].value
