"""preference_pairs materialised by Dagster on the embedded samples, with a filled rating sheet of held-out items,
and its checks: every input pair accounted for, no SFT held-out prompt in training."""

from __future__ import annotations

import csv
import json

import dagster as dg
import pandas as pd

from assets.preference import preference_checks, preference_pairs
from resources.artifact_store import ArtifactStore
from resources.dedup.resource import Deduplicator
from resources.evaluation.engine import prompt_text
from resources.evaluation.evaluator import Evaluator
from resources.evaluation.ratings import export_rating_sheet
from resources.prepare.config import PrepareConfig
from resources.schema import prompt_messages
from sample_datasets import build, ingest_and_deduplicate


def _filled_sheet(layout) -> int:
    """A sheet of six held-out items (their reference vs another item's), rated A, B, tie in turn."""
    held = pd.read_parquet(layout.datasets() / "eval.parquet").head(6).to_dict("records")
    items = [{"id": ex["id"], "prompt": prompt_text(prompt_messages(ex)), "tuned": ex["reference"],
              "other": held[(k + 1) % len(held)]["reference"]} for k, ex in enumerate(held)]
    folder = layout.ratings() / "checkpoint-1"
    export_rating_sheet(items, folder, seed=1)
    rows = list(csv.DictReader(open(folder / "sheet.csv", newline="", encoding="utf-8")))
    for k, row in enumerate(rows):
        row["rating"] = ("A", "B", "tie")[k % 3]
    with open(folder / "filled.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def test_preference_pairs_materialises_on_the_samples(tmp_path, tiny_model_dir):
    layout = ingest_and_deduplicate(tmp_path / "artifacts")
    build(layout, tiny_model_dir)
    rated = _filled_sheet(layout)
    resources = {"store": ArtifactStore(root=str(layout.root)), "prepare": PrepareConfig(), "dedup": Deduplicator(),
                 "evaluator": Evaluator()}
    result = dg.materialize([preference_pairs, *preference_checks], resources=resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = result.asset_materializations_for_node("preference_pairs")[0].metadata
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["pairs_accounted"].passed and checks["no_held_out_prompt_in_train"].passed

    corrections = sum(len(pd.read_parquet(d / "ledger.parquet")) for d in layout.source_drops("corrected_outputs"))
    assert meta["pairs_in"].value == corrections + rated
    folder = layout.preferences()
    train, evals = pd.read_parquet(folder / "train.parquet"), pd.read_parquet(folder / "eval.parquet")
    assert meta["train_pairs"].value == len(train) > 100 and meta["eval_pairs"].value == len(evals) > 5
    # rated items are SFT held-out items: their pairs are held out here too (4 of 6 rated A or B, ties filtered)
    assert (evals["source"] == "ratings").sum() + (pd.read_parquet(folder / "ledger.parquet")
                                                   .query("source == 'ratings' and state == 'duplicate'")
                                                   .shape[0]) == 4
    assert (train["source"] == "corrected_outputs").all()
    first = train.iloc[0]
    assert json.loads(first["prompt"])[-1]["role"] == "user" and first["chosen"] != first["rejected"]
    assert first["id"] in json.loads(first["origin_ids"])
    assert "corrected_outputs" in meta["per_source"].value and "ratings" in meta["per_source"].value
    # the data version is the content of what training reads, so an identical rebuild changes nothing downstream
    again = dg.materialize([preference_pairs], resources=resources, instance=dg.DagsterInstance.ephemeral())
    version = lambda r: r.asset_materializations_for_node("preference_pairs")[0].tags["dagster/data_version"]  # noqa
    assert version(again) == version(result)
