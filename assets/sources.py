"""Raw sources: one asset per source kind, one partition per data drop (a file or folder).

A new drop is ingested on its own; earlier drops are never re-read. Each partition writes the canonical
examples its source rules keep and a ledger that accounts for every input row.

Each drop also gets its checks (empty, binary or unreadable files, the share of rejected rows), evaluated while
the drop is ingested (``check_specs`` + ``AssetCheckResult``), because that is when the facts exist (which file
was empty, which lines were rejected); so an empty, binary or all-rejected drop shows as failed rather than green.
The specs carry the asset's partitions definition, so the UI shows a verdict per drop instead of only the latest
one. They are not blocking: a bad drop contributes nothing to the training data, and one broken delivery should
not stop the other drops' pipeline.
"""

import warnings

import dagster as dg

from assets import DROP_PARTITIONS, group_asset
from resources.artifact_store import ArtifactStore
from resources.provenance.tombstones import load_tombstones
from resources.reports.markdown import markdown_table
from resources.sources.catalog import SourceCatalog
from resources.sources.health import CHECKS, ERROR, Verdict, drop_health
from resources.sources.ingest import DropSummary

DELIVERY = "delivery"

DESCRIPTIONS = {
    "reviewed_interactions": "Customer conversations a reviewer approved (rejected ones are filtered).",
    "corrected_outputs": "Model outputs a person corrected; training uses the corrected answer.",
    "expert_annotations": "Documents with an expert's structured annotation, turned into examples.",
    "teacher_synthetic": "Examples from a stronger teacher model, kept at or above the score threshold.",
}


def drop_metadata(summary, out_dir, delivery: str = "") -> dict:
    meta = {
        "name": dg.MetadataValue.text(summary.name or summary.drop),
        "rows_in": dg.MetadataValue.int(summary.rows_in),
        "kept": dg.MetadataValue.int(summary.kept),
        "filtered": dg.MetadataValue.int(sum(summary.filtered.values())),
        "rejected": dg.MetadataValue.int(sum(summary.rejected.values())),
        "path": dg.MetadataValue.path(str(out_dir)),
    }
    if delivery:  # where the drop was read from and its content hash: `privft run` re-ingests a re-delivery
        meta[DELIVERY] = dg.MetadataValue.text(delivery)
    reasons = [(f"filtered: {r}", n) for r, n in summary.filtered.most_common()]
    reasons += [(f"rejected: {r}", n) for r, n in summary.rejected.most_common()]
    if reasons:
        meta["reasons"] = dg.MetadataValue.md(markdown_table(["reason", "rows"], reasons))
    if getattr(summary, "score_histogram", None):
        meta["teacher_scores"] = dg.MetadataValue.md(markdown_table(["score", "rows"], summary.score_histogram))
    return meta


SHOWN_LINES = 10  # first rejected lines shown in a check's metadata


def source_check_specs(source: str, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    # partitioned check specs are a Dagster preview feature (1.13); the warning would repeat on every code load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [dg.AssetCheckSpec(name, asset=source, description=description, partitions_def=partitions_def)
                for name, description in CHECKS.items()]


def _result(verdict: Verdict) -> dg.AssetCheckResult:
    lines = [(file, line, reason[:200]) for file, line, reason in verdict.lines[:SHOWN_LINES]]
    return dg.AssetCheckResult(
        check_name=verdict.check,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR if verdict.severity == ERROR else dg.AssetCheckSeverity.WARN,
        description=verdict.summary,
        metadata={
            "summary": dg.MetadataValue.text(verdict.summary),
            "rows_in": dg.MetadataValue.int(verdict.rows_in),
            "rejected": dg.MetadataValue.int(verdict.rejected),
            "first_rejected": dg.MetadataValue.md(markdown_table(["file", "line", "reason"], lines)
                                                  if lines else "none"),
        },
    )


def source_check_results(summary: DropSummary, reject_warn_rate: float) -> list[dg.AssetCheckResult]:
    return [_result(v) for v in drop_health(summary, reject_warn_rate)]


def build_source_asset(source: str) -> dg.AssetsDefinition:
    @group_asset("sources")(
        name=source,
        partitions_def=DROP_PARTITIONS[source],
        description=DESCRIPTIONS[source],
        code_version="4",  # 4: corrected_outputs drops also keep model_outputs.parquet (preference pairs)
        check_specs=source_check_specs(source, DROP_PARTITIONS[source]),
    )
    def _source(context: dg.AssetExecutionContext, catalog: SourceCatalog,
                store: ArtifactStore) -> dg.MaterializeResult:
        drop = context.partition_key
        out_dir = store.layout.source_drop(source, drop)
        delivery = catalog.delivery(source, drop)
        summary = catalog.ingest_drop(source, drop, out_dir, tombstones=load_tombstones(store.path()))
        context.log.info(f"{source}/{drop}: {summary.rows_in} rows in, {summary.kept} kept, "
                         f"{sum(summary.filtered.values())} filtered, {sum(summary.rejected.values())} rejected")
        return dg.MaterializeResult(data_version=dg.DataVersion(summary.content_hash),
                                    metadata=drop_metadata(summary, out_dir, delivery),
                                    check_results=source_check_results(summary, catalog.reject_warn_rate))

    return _source


source_assets = [build_source_asset(s) for s in DESCRIPTIONS]
