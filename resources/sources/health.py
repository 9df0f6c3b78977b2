"""Is one ingested drop usable? The verdicts the source assets report as asset checks on their partition.

A drop whose every row was rejected still "materialises" (it writes an empty example table and a full ledger),
so without these verdicts a broken delivery looks as healthy as a good one.

- ``files_readable``: every file holds rows and is text of its kind; an empty, binary or unreadable file is an
  error (someone exported the wrong thing, or the transfer broke).
- ``reject_rate``: an empty drop or one with every row rejected is an error; a reject rate above the configured
  ``reject_warn_rate`` is a warning (some rows are malformed, the rest are used).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resources.sources.ingest import DropSummary

ERROR, WARN = "error", "warn"
CHECKS = {
    "files_readable": "Every file of the drop holds rows and is readable text of its kind (not empty, not binary, "
                      "not corrupt).",
    "reject_rate": "Share of the drop's rows that were rejected as malformed: an error when the drop is empty or "
                   "every row was rejected, a warning above SourceCatalog.reject_warn_rate.",
}


@dataclass(frozen=True)
class Verdict:
    check: str
    passed: bool
    severity: str            # ERROR or WARN: how loudly a failure shows
    summary: str             # one line for the UI
    lines: list[tuple[str, int, str]] = field(default_factory=list)  # first (file, line, reason); line 0 = file
    rejected: int = 0
    rows_in: int = 0


def reject_rate(summary: DropSummary) -> float:
    return sum(summary.rejected.values()) / summary.rows_in if summary.rows_in else 0.0


def files_readable(summary: DropSummary) -> Verdict:
    problems = [(file, 0, why) for file, why in summary.file_problems]
    if not problems:
        return Verdict("files_readable", True, ERROR, "every file holds readable rows")
    files = sorted({file for file, _, _ in problems})
    return Verdict("files_readable", False, ERROR, f"{len(files)} unusable file(s): {', '.join(files)[:200]}",
                   lines=problems + summary.rejections, rejected=sum(summary.rejected.values()),
                   rows_in=summary.rows_in)


def rows_rejected(summary: DropSummary, warn_rate: float) -> Verdict:
    rejected, rows = sum(summary.rejected.values()), summary.rows_in
    rate = reject_rate(summary)
    # an empty drop has no rejected lines; its files say why it is empty
    lines = summary.rejections if rows else [(file, 0, why) for file, why in summary.file_problems]

    def verdict(passed: bool, severity: str, text: str) -> Verdict:
        return Verdict("reject_rate", passed, severity, text, list(lines), rejected, rows)

    if rows == 0:
        return verdict(False, ERROR, "empty drop: no rows to read")
    if rejected == rows:
        return verdict(False, ERROR, f"every row rejected ({rows} of {rows})")
    if rate > warn_rate:
        return verdict(False, WARN, f"{rejected} of {rows} rows rejected ({rate:.1%} > reject_warn_rate "
                                    f"{warn_rate:.1%})")
    return verdict(True, WARN, f"{rejected} of {rows} rows rejected ({rate:.1%})")


def drop_health(summary: DropSummary, warn_rate: float) -> list[Verdict]:
    """One verdict per entry of CHECKS, in that order."""
    return [files_readable(summary), rows_rejected(summary, warn_rate)]
