"""End to end: a customer's records in two sources (one a near-duplicate of the other) are found in the trained
model, erased on request, and absent from the retrained one; the old version is flagged."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from conftest import REPO, pipeline_settings
from pipelines.definitions import build_definitions
from pipelines.provenance import erasure_requests
from pipelines.run_all import run_pipeline
from resources.layout import Layout
from resources.provenance.inbox import ErasureInbox
from resources.provenance.lookup import lookup
from resources.provenance.record_index import model_versions

EMAIL, PHONE = "Greta.Lindqvist@example.se", "+46 70 123 45 67"
ASK = "Summarise this support conversation in one sentence."
ANSWER = ("The customer reported that 2 Gotland linen cushions from order NH-918273 were damaged, "
          "and the agent arranged a replacement for both cushions.")


def conversation(thanks: str) -> str:
    return "\n".join([
        f"Customer: Hi, this is Greta Lindqvist. My order NH-918273 with two Gotland linen cushions: one arrived torn "
        f"at the seam and the other is missing its cover. You can reach me at {EMAIL} or call me on {PHONE} during "
        "the day.",
        "Agent: I'm sorry to hear that, Greta. I have arranged a replacement for both cushions, shipped today with "
        "express delivery.",
        f"Customer: {thanks}",
        "Agent: You are welcome, have a nice day!"])


def plant(samples: Path) -> set[str]:
    """Greta's conversation as a reviewed interaction, and a slightly edited copy as a corrected output."""
    record = {"messages": [{"role": "user", "content": f"{ASK}\n\n{conversation('Thank you, that works for me.')}"},
                           {"role": "assistant", "content": ANSWER}],
              "task": "summarise", "verdict": "approved", "reviewer": "a.berg", "reviewed_at": "2026-11-19T09:00:00Z"}
    (samples / "reviewed_interactions" / "2026-11-20.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    with open(samples / "corrected_outputs" / "2026-11-21.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "model_output", "corrected_output", "task", "corrected_at"])
        w.writerow([f"{ASK}\n\n{conversation('Thank you, that works well for me.')}", "The customer was happy.",
                    ANSWER, "summarise", "2026-11-21T09:00:00Z"])
    return {"reviewed_interactions/2026-11-20.jsonl/1", "corrected_outputs/2026-11-21.csv/2"}


def current_record_set(root: Path) -> Path:
    """The record set (id, origin_ids) of the current training set; the training files carry no provenance."""
    return Path(json.loads((Layout(root).datasets() / "stats.json").read_text())["record_set"])


def trained_rows(path: Path) -> set[str]:
    table = pd.read_parquet(path)
    return set(table["id"]) | {o for origins in table["origin_ids"] for o in json.loads(origins)}


@pytest.mark.slow
def test_find_erase_retrain(tmp_path):
    samples = tmp_path / "samples"
    shutil.copytree(REPO / "data" / "samples", samples)
    planted = plant(samples)
    defs = build_definitions(pipeline_settings(
        # 12 steps: fewer leave the random tiny model below its zero-shot base, and the promotion gate refuses it
        tmp_path, catalog={"sample_root": str(samples)}, trainer={"max_steps": 12, "save_every": 12},
        evaluator={"forgetting_sample_size": 8}))
    store, catalog = defs.resources["store"], defs.resources["catalog"]
    root = Path(store.path())
    log = []
    with dg.instance_for_test() as instance:
        run_pipeline(defs, instance, log=log.append)
        assert planted <= trained_rows(current_record_set(root)), "planted rows were not trained on"

        # 1. Who was trained on Greta's data? Both rows, one through the near-duplicate its survivor absorbed.
        lookup(root, subject=EMAIL, catalog=catalog)  # first call indexes the drops
        started = time.perf_counter()
        found = lookup(root, subject=PHONE.replace(" ", ""))
        assert time.perf_counter() - started < 1.0
        assert {r["source_row_id"] for r in found["source_rows"]} == planted
        hits = [h for s in found["training_sets"] for h in s["hits"]]
        assert {h["source_row_id"] for h in hits} == planted
        assert len({h["training_record"] for h in hits}) == 1
        assert {h["via"] for h in hits} == {"direct", "absorbed duplicate"}
        [old] = found["model_versions"]
        assert EMAIL.lower() not in json.dumps(found).lower()

        # 2. Greta asks for erasure: the sensor applies the request and asks for her drops to be re-ingested.
        inbox = tmp_path / "erasure"
        inbox.mkdir()
        (inbox / "ER-7.json").write_text(json.dumps({"request_id": "ER-7", "requested_by": "dpo@nordlicht.example",
                                                     "subjects": [EMAIL]}))
        resources = {"erasure": ErasureInbox(folder=str(inbox)), "store": store, "catalog": catalog}
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            tick = erasure_requests(ctx)
        reingest = sorted((r.asset_selection[0].path[-1], r.partition_key) for r in tick.run_requests if r.partition_key)
        assert reingest == [("corrected_outputs", "2026-11-21.csv"), ("reviewed_interactions", "2026-11-20.jsonl")]
        for source, drop in reingest:
            defs.resolve_job_def(f"ingest_{source}").execute_in_process(instance=instance, partition_key=drop)

        # 3. Retrain: the new training set and the new model version lack every one of Greta's rows.
        run_pipeline(defs, instance, log=log.append)
    assert not planted & trained_rows(current_record_set(root))
    versions = {v["version"]: v for v in model_versions(root)}
    assert "contains_erased_data" in versions[old["version"]]["flags"]
    new = [v for name, v in versions.items() if name != old["version"]]
    assert new, f"no new model version was published: {log}"
    assert all(not v["flags"] and not planted & trained_rows(Path(v["record_set"])) for v in new)
    after = lookup(root, subject=EMAIL)
    assert [v["version"] for v in after["model_versions"]] == [old["version"]]
    ledger = pd.concat(pd.read_parquet(Layout(root).source_drop(*r.split("/")[:2]) / "ledger.parquet")
                       for r in planted)
    assert set(ledger["reason"].str.split(":").str[0]) == {"erased"}
