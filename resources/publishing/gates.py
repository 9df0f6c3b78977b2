"""The promotion gate: a candidate replaces the promoted version only if it is better and safe.

Candidate and current are dicts of gate facts (``gate_facts`` extracts them from a manifest):
``metric`` (name of the primary metric), ``value`` (its value on the chosen checkpoint), ``higher_is_better``,
``forgetting`` (True when general capability regressed against the base), ``leakage`` (eval examples found in
training data) and ``merge_verified``. A fact that is missing blocks promotion: the gate never guesses in favour
of a release.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)  # the failures if not passed, else why it passed


def evaluate_gates(candidate: dict[str, Any], current: Optional[dict[str, Any]], margin: float = 0.0) -> GateResult:
    failures, passes = [], []

    value = _number(candidate.get("value"))
    metric = candidate.get("metric", "primary metric")
    higher = candidate.get("higher_is_better", True)
    if value is None:
        failures.append(f"candidate has no value for {metric}")
    elif current is None:
        passes.append(f"{metric} {value:.4g}; nothing promoted yet")
    else:
        cur = _number(current.get("value"))
        if current.get("metric", metric) != metric:
            failures.append(f"the promoted version was judged on {current.get('metric')!r}, the candidate on "
                            f"{metric!r}: not comparable, promote by hand if intended")
        elif cur is None:
            failures.append(f"the promoted version {current.get('version', '')} records no {metric} to compare with")
        else:
            gain = (value - cur) if higher else (cur - value)
            if gain > margin:
                passes.append(f"{metric} {value:.4g} beats promoted {cur:.4g} by {gain:.4g} (> margin {margin:g})")
            else:
                failures.append(f"{metric} {value:.4g} does not beat promoted {current.get('version', '')} "
                                f"{cur:.4g} by more than margin {margin:g}")

    forgetting = candidate.get("forgetting")
    if forgetting is None:
        failures.append("forgetting check not recorded")
    elif forgetting:
        failures.append("forgetting flagged: general capability regressed against the base model")
    else:
        passes.append("no forgetting")

    leakage = candidate.get("leakage")
    if leakage is None:
        failures.append("leakage check not recorded")
    elif int(leakage) > 0:
        failures.append(f"{int(leakage)} evaluation example(s) leaked into the training data")
    else:
        passes.append("no leakage")

    if candidate.get("merge_verified") is True:
        passes.append("merge verified")
    else:
        failures.append("merge not verified: merged model does not reproduce base+adapter")

    return GateResult(passed=not failures, reasons=failures or passes)


def gate_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """The gate facts of a published version, read from its manifest.json (see ``card.py`` for the layout)."""
    ev = manifest.get("evaluation") or {}
    metric = ev.get("primary_metric")
    value = ev.get("primary_value")
    if value is None:
        chosen = next((c for c in ev.get("checkpoints") or [] if c.get("checkpoint") == ev.get("chosen")), {})
        value = (chosen.get("metrics") or {}).get(metric)
    return {"version": manifest.get("version"), "metric": metric, "value": value,
            "higher_is_better": ev.get("higher_is_better", True),
            "forgetting": (manifest.get("forgetting") or {}).get("flag"),
            "leakage": (manifest.get("leakage") or {}).get("count"),
            "merge_verified": (manifest.get("merge") or {}).get("verified")}


def _number(v: Any) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f
