"""Build the prepared datasets from the embedded samples without Dagster, for tests of the split's outputs."""

from __future__ import annotations

from pathlib import Path

from resources.layout import Layout

REPO = Path(__file__).resolve().parents[1]


def ingest_and_deduplicate(root: Path) -> Layout:
    """Every sample drop ingested, normalised and deduplicated under ``root``: what training_datasets reads."""
    import pandas as pd

    from resources.datasets.duplicates import apply_duplicates
    from resources.datasets.tables import all_source_rows
    from resources.dedup.resource import Deduplicator
    from resources.prepare.accounting import merge_ledgers
    from resources.prepare.cleaning import clean_examples
    from resources.prepare.config import PrepareConfig
    from resources.schema import SOURCES, example_text
    from resources.sources.catalog import SourceCatalog
    from resources.storage import write_parquet

    layout = Layout(root)
    catalog = SourceCatalog(sample_root=str(REPO / "data" / "samples"), incoming_root=str(root / "incoming"))
    for source in SOURCES:
        for drop in catalog.list_drops(source):
            catalog.ingest_drop(source, drop, layout.source_drop(source, drop))
    examples, source_ledger = all_source_rows(layout)
    cleaned, ledger, _ = clean_examples(examples, PrepareConfig())
    items = pd.DataFrame({"id": cleaned["id"], "text": [example_text(r) for r in cleaned.to_dict("records")],
                          "source": cleaned["source"], "created_at": cleaned["created_at"]})
    decisions = Deduplicator().deduplicate(items, index_dir=layout.minhash_index())
    kept, dd_ledger, clusters, _ = apply_duplicates(cleaned, decisions, merge_ledgers(source_ledger, ledger))
    out = layout.deduplicated()
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(out / "examples.parquet", kept)
    write_parquet(out / "ledger.parquet", dd_ledger)
    write_parquet(out / "clusters.parquet", clusters)
    return layout


def build(layout: Layout, base_model_dir: Path, **prepare):
    """training_datasets' engine on ``layout`` with the tiny model's tokenizer and the toy benchmark."""
    from resources.datasets.benchmark_items import benchmark_items
    from resources.datasets.build import build_datasets
    from resources.dedup.resource import Deduplicator
    from resources.evaluation.evaluator import Evaluator
    from resources.prepare.config import PrepareConfig

    return build_datasets(layout, prepare=PrepareConfig(**prepare), dedup=Deduplicator(), base_model_dir=base_model_dir,
                          trust_remote_code=False, benchmark_items=benchmark_items(Evaluator()))
