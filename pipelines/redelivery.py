"""Re-deliveries: an ingested drop whose files changed since (a corrected drop under the same key in the incoming
root, or a file replaced in place) is ingested again, as the README promises.

The drop sensors see it by content hash (``drop_watch.py``); ``privft run`` compares the delivery each ingest
records in its materialisation (where the drop was read from and a hash of its files) with the drop today.
"""

from __future__ import annotations

import dagster as dg

from assets.sources import DELIVERY


def redelivered(instance: dg.DagsterInstance, catalog, source: str, drops: list[str]) -> list[str]:
    """The ingested ``drops`` of ``source`` whose delivery differs from the one their latest ingest recorded."""
    changed = []
    for drop in drops:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(source), asset_partitions=[drop]), limit=1).records
        if not records or records[0].asset_materialization is None:
            continue  # never ingested: the caller ingests it anyway
        recorded = records[0].asset_materialization.metadata.get(DELIVERY)
        # an ingest from before deliveries were recorded cannot vouch for its files: read them once more
        if recorded is None or recorded.value != catalog.delivery(source, drop):
            changed.append(drop)
    return changed
