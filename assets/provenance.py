"""Governance: every erasure request, what it removed, which versions it flagged, and loudly, whether the
promoted version contains erased data. The lookup job and the sensor that applies requests are wiring
(pipelines/provenance.py)."""

import hashlib

import dagster as dg

from assets import group_asset
from resources.artifact_store import ArtifactStore


@group_asset("governance")()
def erasure_report(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
    """Every erasure request: what it removed and which model versions it affected."""
    from resources.provenance.erasure_log import entries
    from resources.provenance.erasure_report import report_markdown

    log = entries(store.path())
    md, stale_promoted = report_markdown(store.path(), log)
    for version in stale_promoted:
        context.log.warning(f"PROMOTED model version {version} contains erased data; promote a newer version or "
                            "roll back")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(hashlib.sha256(md.encode()).hexdigest()[:16]),
        metadata={
            "requests": dg.MetadataValue.int(len(log)),
            "rows_erased": dg.MetadataValue.int(len({r for e in log for r in e.get("rows", [])})),
            "promoted_contains_erased_data": dg.MetadataValue.bool(bool(stale_promoted)),
            "report": dg.MetadataValue.md(md),
        })
