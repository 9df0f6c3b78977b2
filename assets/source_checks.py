"""Asset checks on each source drop (partition): empty, binary or unreadable files, and the share of rejected rows.

The source asset evaluates them while it ingests the drop (``check_specs`` + ``AssetCheckResult``), because that
is when the facts exist (which file was empty, which lines were rejected). The specs carry the asset's partitions
definition, so the UI shows a verdict per drop instead of only the latest one. They are not blocking: a bad drop
contributes nothing to the training data, and one broken delivery should not stop the other drops' pipeline.
"""

from __future__ import annotations

import warnings

import dagster as dg

from resources.reports.markdown import markdown_table
from resources.sources.health import CHECKS, ERROR, Verdict, drop_health
from resources.sources.ingest import DropSummary

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
