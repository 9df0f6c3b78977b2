"""Re-deliveries: an ingested drop whose files changed since (a corrected drop under the same key in the incoming
root, or a file replaced in place) is ingested again, as the README promises.

The drop sensors see it by content hash (``drop_watch.py``); ``privft run`` compares the delivery each ingest
records in its materialisation (where the drop was read from and a hash of its files) with the drop today. A
corrections drop ingested before ``model_outputs.parquet`` was kept is read once more too, for the preference pairs.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from assets.sources import DELIVERY
from resources.sources.model_outputs import MODEL_OUTPUTS, SOURCE


def redelivered(instance: dg.DagsterInstance, catalog, source: str, drops: list[str]) -> list[str]:
    """The ingested ``drops`` of ``source`` whose delivery differs from the one their latest ingest recorded."""
    changed = []
    for drop in drops:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(source), asset_partitions=[drop]), limit=1).records
        if not records or records[0].asset_materialization is None:
            continue  # never ingested: the caller ingests it anyway
        meta = records[0].asset_materialization.metadata
        recorded = meta.get(DELIVERY)
        # an ingest from before deliveries were recorded cannot vouch for its files: read them once more
        if recorded is None or recorded.value != catalog.delivery(source, drop) or _lacks_model_outputs(source, meta):
            changed.append(drop)
    return changed


def _lacks_model_outputs(source: str, meta) -> bool:
    """A corrections drop ingested before the model outputs were kept: the preference pairs need them."""
    path = meta.get("path")
    return source == SOURCE and path is not None and Path(path.value).is_dir() \
        and not (Path(path.value) / MODEL_OUTPUTS).exists()
