"""The model output a correction replaced is kept beside the drop's examples (the rejected side of a preference
pair), without changing what SFT trains on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from resources.sources.ingest import ingest
from resources.sources.model_outputs import MODEL_OUTPUTS, read_model_outputs

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "corrected_outputs" / "2026-11-05.csv"


def test_sample_drop_keeps_every_model_output_beside_its_correction(tmp_path):
    summary = ingest("corrected_outputs", "2026-11-05.csv", [SAMPLE], tmp_path / "d")
    examples = pd.read_parquet(tmp_path / "d" / "examples.parquet")
    outputs = read_model_outputs(tmp_path / "d")
    assert summary.kept == len(examples) == len(outputs) > 100
    assert outputs["id"].tolist() == examples["id"].tolist()
    with open(SAMPLE, newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    # the CSV's records in order; ids carry the record's first line, so compare in order
    kept = [r for r in raw if r["corrected_output"].strip()]
    assert outputs["model_output"].tolist()[:20] == [r["model_output"] for r in kept][:20]
    assert (outputs["problem"] == "").all()
    # SFT still trains on the correction: no example's answer is the model output it replaced
    answers = [json.loads(m)[-1]["content"] for m in examples["messages"]]
    assert answers[:20] == [r["corrected_output"] for r in kept][:20]


def test_unusable_model_output_is_stored_empty_with_the_reason(tmp_path):
    rows = [{"prompt": "Q1", "corrected_output": "A1", "task": "t"},                         # missing
            {"prompt": "Q2", "corrected_output": "A2", "model_output": {"x": 1}, "task": "t"},  # not text
            {"prompt": "Q3", "corrected_output": "A3", "model_output": "bad\u0000", "task": "t"},
            {"prompt": "Q4", "corrected_output": "A4", "model_output": "old answer", "task": "t"},
            {"prompt": "Q5", "model_output": "no correction", "task": "t"}]                    # rejected row
    path = tmp_path / "drop.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    summary = ingest("corrected_outputs", "drop.jsonl", [path], tmp_path / "d")
    assert summary.kept == 4 and sum(summary.rejected.values()) == 1
    out = read_model_outputs(tmp_path / "d").set_index("id")
    assert out.loc["corrected_outputs/drop.jsonl/1", "problem"] == "missing field: model_output"
    assert out.loc["corrected_outputs/drop.jsonl/2", "problem"].startswith("wrong type: model_output is dict")
    assert "NUL" in out.loc["corrected_outputs/drop.jsonl/3", "problem"]
    assert out.loc["corrected_outputs/drop.jsonl/4", "model_output"] == "old answer"
    assert "corrected_outputs/drop.jsonl/5" not in out.index
    assert (out.loc[out["problem"] != "", "model_output"] == "").all()


def test_model_outputs_are_part_of_the_drops_data_version(tmp_path):
    def drop(model_output: str) -> str:
        path = tmp_path / f"{model_output}.jsonl"
        path.write_text(json.dumps({"prompt": "Q", "corrected_output": "A", "model_output": model_output,
                                    "task": "t"}) + "\n", encoding="utf-8")
        return ingest("corrected_outputs", "d.jsonl", [path], tmp_path / model_output).content_hash

    assert drop("first") != drop("second")


def test_other_sources_write_no_sidecar(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
                                "verdict": "approved", "task": "t"}) + "\n", encoding="utf-8")
    ingest("reviewed_interactions", "d.jsonl", [path], tmp_path / "d")
    assert not (tmp_path / "d" / MODEL_OUTPUTS).exists()


def test_privft_run_reads_a_corrections_drop_again_when_it_lacks_the_model_outputs(tmp_path):
    import dagster as dg

    from conftest import pipeline_settings
    from pipelines.definitions import build_definitions
    from pipelines.run_all import register_drops
    from resources.layout import Layout

    defs = build_definitions(pipeline_settings(tmp_path))
    with dg.instance_for_test() as instance:
        drop = register_drops(defs, instance)["corrected_outputs"][0]
        defs.resolve_job_def("ingest_corrected_outputs").execute_in_process(instance=instance, partition_key=drop)
        assert register_drops(defs, instance)["corrected_outputs"] == []
        # what an ingest from before the sidecar existed left behind
        (Layout(tmp_path / "artifacts").source_drop("corrected_outputs", drop) / MODEL_OUTPUTS).unlink()
        assert register_drops(defs, instance)["corrected_outputs"] == [drop]
        assert register_drops(defs, instance)["expert_annotations"] != []  # never ingested: pending as before
