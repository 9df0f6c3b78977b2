"""Numbers as the Dagster UI shows them: four significant digits (0.1585, 7.684, 1.234e-06).

The UI prints a float metadata value in full (0.15845791650414479), which hides the digits that matter. Rounded
here for display only: report.json, summary.json and the registry's manifest keep full precision.
"""

from __future__ import annotations

import math

import dagster as dg

DIGITS = 4


def rounded(value) -> float:
    """``value`` to four significant digits; NaN and infinities as they are, None as NaN."""
    number = float("nan") if value is None else float(value)
    return number if not math.isfinite(number) or number == 0 else float(f"{number:.{DIGITS}g}")


def shown(value) -> dg.MetadataValue:
    """A float metadata entry the UI displays rounded (still a number, so the UI can plot it over time)."""
    return dg.MetadataValue.float(rounded(value))
