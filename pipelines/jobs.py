"""Jobs: what a run materialises. The pipeline runs as ingest (per drop) -> prepare+train -> evaluate
(per checkpoint) -> publish, because each of those steps has its own partitioning."""

import dagster as dg

from assets import CHECKPOINT_PARTITIONS, DROP_PARTITIONS
from resources.schema import SOURCES

ingest_jobs = {
    source: dg.define_asset_job(f"ingest_{source}", selection=dg.AssetSelection.assets(source),
                                partitions_def=DROP_PARTITIONS[source],
                                description=f"Ingest one drop of {source}.")
    for source in SOURCES
}

prepare_job = dg.define_asset_job(
    "prepare_job", selection=dg.AssetSelection.groups("prepare") | dg.AssetSelection.assets("base_model"),
    description="Normalise, deduplicate, trim and split every ingested drop.")

train_job = dg.define_asset_job(
    "train_job",
    selection=dg.AssetSelection.groups("prepare") | dg.AssetSelection.assets("base_model", "qlora_adapter"),
    description="Prepare the data and train the QLoRA adapter (resumes an interrupted run).")

evaluate_checkpoint_job = dg.define_asset_job(
    "evaluate_checkpoint_job", selection=dg.AssetSelection.assets("checkpoint_evaluation"),
    partitions_def=CHECKPOINT_PARTITIONS, description="Evaluate one adapter checkpoint.")

# by tag, not by key: the asset exists only while dpo.enabled (a key selection of a missing asset is an error)
preference_job = dg.define_asset_job(
    "preference_job",
    selection=dg.AssetSelection.assets("base_baselines", "evaluation_summary") | dg.AssetSelection.tag("stage", "dpo"),
    description="Choose the best SFT checkpoint and train DPO from it on the preference pairs.")

publish_job = dg.define_asset_job(
    "publish_job",
    selection=dg.AssetSelection.assets("base_baselines", "evaluation_summary", "rating_sheet")
    | dg.AssetSelection.groups("publish"),
    description="Compare checkpoints with the baselines, merge the best, register, promote if the gates pass.")

all_jobs = [*ingest_jobs.values(), prepare_job, train_job, evaluate_checkpoint_job, preference_job, publish_job]

ratings_job = dg.define_asset_job(
    "ingest_ratings_job", selection=dg.AssetSelection.assets("human_ratings"),
    description="Unblind a filled rating sheet and compute the win rate.")

all_jobs.append(ratings_job)
