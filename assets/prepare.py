"""Prepared datasets: normalise + scrub PII, deduplicate (exact + MinHash LSH), trim and split without leaks."""

import dagster as dg
import pandas as pd

from assets import group_asset, on_changed_inputs, on_new_drops
from resources.reports.markdown import frame_table, markdown_table
from resources.datasets.tables import all_source_rows, read_table
from resources.dedup.resource import Deduplicator
from resources.evaluation.evaluator import Evaluator
from resources.model.handle import BaseModelHandle
from resources.prepare.config import PrepareConfig
from resources.schema import EXAMPLE_COLUMNS, LEDGER_COLUMNS, SOURCES, example_text
from resources.artifact_store import ArtifactStore
from resources.storage import atomic_dir, content_hash, write_json, write_parquet

SOURCE_KEYS = [dg.AssetKey(s) for s in SOURCES]
prepare_asset = group_asset("prepare")


@prepare_asset(automation_condition=on_new_drops, deps=SOURCE_KEYS)
def normalised_examples(context: dg.AssetExecutionContext, store: ArtifactStore,
                        prepare: PrepareConfig) -> dg.MaterializeResult:
    """Every kept source row in one chat schema: Unicode/mojibake/HTML/whitespace fixed, PII scrubbed."""
    from resources.prepare.cleaning import clean_examples
    from resources.prepare.accounting import merge_ledgers

    layout = store.layout
    examples, source_ledger = all_source_rows(layout)
    cleaned, ledger, stats = clean_examples(examples, prepare)
    with atomic_dir(layout.normalised()) as tmp:
        write_parquet(tmp / "examples.parquet", cleaned)
        write_parquet(tmp / "ledger.parquet", merge_ledgers(source_ledger, ledger))
        write_json(tmp / "stats.json", stats)
    out = layout.normalised()
    changes = stats.get("normalise", {})
    pii = stats.get("pii", {})
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(out / "examples.parquet")),
        metadata={
            "rows_in": dg.MetadataValue.int(len(examples)),
            "rows_out": dg.MetadataValue.int(len(cleaned)),
            "normalisation_changes": dg.MetadataValue.md(markdown_table(["change", "rows"], sorted(changes.items()))),
            "pii_replaced": dg.MetadataValue.md(markdown_table(["type", "count"], sorted(pii.items()))),
            "pii_total": dg.MetadataValue.int(int(sum(pii.values()))),
            "per_source": dg.MetadataValue.md(markdown_table(
                ["source", "rows"], sorted(cleaned["source"].value_counts().items()))),
            "path": dg.MetadataValue.path(str(out)),
        })


@prepare_asset(automation_condition=on_changed_inputs, deps=[normalised_examples])
def deduplicated_examples(context: dg.AssetExecutionContext, store: ArtifactStore,
                          dedup: Deduplicator) -> dg.MaterializeResult:
    """Exact and near-duplicates removed across sources and drops (datasketch MinHash LSH, incremental)."""
    from resources.datasets.duplicates import apply_duplicates

    layout = store.layout
    examples = read_table(layout.normalised(), "examples.parquet", EXAMPLE_COLUMNS)
    upstream_ledger = read_table(layout.normalised(), "ledger.parquet", LEDGER_COLUMNS)
    items = pd.DataFrame({"id": examples["id"], "text": [example_text(r) for r in examples.to_dict("records")],
                          "source": examples["source"], "created_at": examples["created_at"]})
    index_status = dedup.index_status(layout.minhash_index())  # "rebuilt: ..." when the settings changed
    decisions = dedup.deduplicate(items, index_dir=layout.minhash_index())
    kept, ledger, clusters, preview = apply_duplicates(examples, decisions, upstream_ledger)
    with atomic_dir(layout.deduplicated()) as tmp:
        write_parquet(tmp / "examples.parquet", kept)
        write_parquet(tmp / "ledger.parquet", ledger)
        write_parquet(tmp / "clusters.parquet", clusters)
    out = layout.deduplicated()
    kinds = decisions["kind"].value_counts().to_dict()
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(out / "examples.parquet")),
        metadata={
            "rows_in": dg.MetadataValue.int(len(examples)),
            "rows_out": dg.MetadataValue.int(len(kept)),
            "exact_duplicates": dg.MetadataValue.int(int(kinds.get("exact", 0))),
            "near_duplicates": dg.MetadataValue.int(int(kinds.get("near", 0))),
            "minhash_index": dg.MetadataValue.text(index_status),
            "duplicate_clusters": dg.MetadataValue.md(frame_table(preview, 15) if len(preview) else "no duplicates"),
            "path": dg.MetadataValue.path(str(out)),
        })


@prepare_asset(automation_condition=on_changed_inputs, deps=[deduplicated_examples, dg.AssetKey("base_model")],
               code_version="2")
def training_datasets(context: dg.AssetExecutionContext, store: ArtifactStore, prepare: PrepareConfig,
                      dedup: Deduplicator, evaluator: Evaluator) -> dg.MaterializeResult:
    """Train and held-out sets: trimmed by base-model tokens, split by duplicate cluster, decontaminated."""
    from resources.datasets.benchmark_items import benchmark_items
    from resources.datasets.build import build_datasets
    from resources.prepare.decontaminate import contaminated_items

    layout = store.layout
    base = BaseModelHandle.read(layout.base_model_handle())  # its tokenizer trims the examples
    result = build_datasets(layout, prepare=prepare, dedup=dedup, base_model_dir=base.folder,
                            trust_remote_code=base.trust_remote_code, benchmark_items=benchmark_items(evaluator))
    out = layout.datasets()
    found = contaminated_items(result.decontamination)
    unseen = result.unseen
    # eval_unseen.parquet stays out of the data version (the manifest records the same train+eval hash): its rows
    # can only come out of train or eval, so moving any changes one of those too
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(out / "train.parquet", out / "eval.parquet")),
        metadata={
            "train_rows": dg.MetadataValue.int(result.train_rows),
            "eval_rows": dg.MetadataValue.int(result.eval_rows),
            "unseen_eval_rows": dg.MetadataValue.int(result.unseen_rows),
            "unseen_eval": dg.MetadataValue.md(
                markdown_table(["term", "rows"], sorted(unseen.get("by_term", {}).items()))
                + f"\n\n{unseen.get('from_train', 0)} rows moved from train, {unseen.get('from_eval', 0)} from the "
                  f"held-out set, {unseen.get('clusters', 0)} duplicate clusters"
                if unseen else "no unseen_terms configured"),
            "removed_as_contaminating": dg.MetadataValue.int(result.contaminating),
            "contaminated_items": dg.MetadataValue.md(markdown_table(["kind", "item", "training rows removed"], found)
                                                      if found else "none"),
            "trimmed": dg.MetadataValue.md(markdown_table(["outcome", "rows"], sorted(result.trim_counts.items()))),
            "length_histogram": dg.MetadataValue.md(result.length_histogram_md),
            "per_task": dg.MetadataValue.md(frame_table(result.per_task)),
            "accounting": dg.MetadataValue.md(frame_table(result.accounting, 40)),
            "train_preview": dg.MetadataValue.md(frame_table(result.train_preview, 5)),
            "record_set": dg.MetadataValue.path(str(result.record_set)),
            "path": dg.MetadataValue.path(str(out)),
        })
