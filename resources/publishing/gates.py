"""The promotion gate: a candidate replaces the promoted version only if it is better and safe.

Candidate and current are dicts of gate facts (``gate_facts`` extracts them from a manifest):
``metric`` (name of the primary metric), ``value`` (its value on the chosen checkpoint), ``higher_is_better``,
``forgetting`` (True when general capability regressed against the base), ``leakage`` (eval examples found in
training data), ``merge_verified``, ``baseline`` (the base model's zero-shot value of the metric, measured on the
same held-out set as ``value``) and ``held_out`` (which held-out set ``value`` was measured on, see
``held_out.py``). A fact that is missing blocks promotion: the gate never guesses in favour of a release.

Two numbers are compared only when measured on the same held-out set: a set that grew easier or harder between
two versions would otherwise decide the promotion instead of the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)  # the failures if not passed, else why it passed
    compared: dict[str, Any] = field(default_factory=dict)  # the numbers weighed (see ``comparison``)


def evaluate_gates(candidate: dict[str, Any], current: Optional[dict[str, Any]], margin: float = 0.0,
                   held_out: Optional[dict[str, str]] = None) -> GateResult:
    """``held_out``: the current held-out set's key; when given, a candidate measured on another set is refused."""
    failures, passes = [], []

    value = _number(candidate.get("value"))
    metric = candidate.get("metric", "primary metric")
    higher = candidate.get("higher_is_better", True)
    on = f" on held-out data {_data_version(candidate.get('held_out'))}" if candidate.get("held_out") else ""
    if held_out is not None and candidate.get("held_out") != held_out:
        failures.append(f"candidate was evaluated on held-out data {_data_version(candidate.get('held_out'))}, the "
                        f"current held-out set is {_data_version(held_out)}: evaluate it again (evaluation_summary, "
                        "model_version) before it can be compared with anything")
    elif value is None:
        failures.append(f"candidate has no value for {metric}")
    elif current is None:
        passes.append(f"{metric} {value:.4g}{on}; nothing promoted yet")
    elif current.get("held_out") != candidate.get("held_out"):
        failures.append(f"the promoted version {current.get('version', '')} was measured on held-out data "
                        f"{_data_version(current.get('held_out'))}, the candidate{on or ' on an unrecorded one'}: not "
                        "comparable; re-evaluate the promoted version on the current set")
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
                passes.append(f"{metric} {value:.4g} beats promoted {current.get('version', '')} {cur:.4g}{on} by "
                              f"{gain:.4g} (> margin {margin:g})")
            else:
                failures.append(f"{metric} {value:.4g} does not beat promoted {current.get('version', '')} "
                                f"{cur:.4g}{on} by more than margin {margin:g}")

    if value is not None:
        _baseline_gate(value, metric, higher, _number(candidate.get("baseline")), failures, passes)

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


def _baseline_gate(value: float, metric: str, higher: bool, baseline: Optional[float], failures: list[str],
                   passes: list[str]) -> None:
    # Applies to every candidate, the first one included: a fine-tune that does not beat prompting the base model
    # is not worth serving, whatever was promoted before.
    if baseline is None:
        failures.append(f"base model zero-shot {metric} not recorded (base_baselines): cannot tell whether the "
                        "fine-tune beats the base model")
    elif (value - baseline if higher else baseline - value) > 0:
        passes.append(f"{metric} {value:.4g} beats the base model zero-shot {baseline:.4g}")
    else:
        failures.append(f"{metric} {value:.4g} does not beat the base model zero-shot {baseline:.4g}: fine-tuning "
                        "did not improve on the base model")


def comparison(candidate: dict[str, Any], current: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The numbers the gate weighed, for the model card and the UI."""
    incumbent = None
    if current is not None:
        incumbent = {k: current.get(k) for k in ("version", "metric", "value", "held_out", "measured", "recorded")}
    return {"metric": candidate.get("metric"), "higher_is_better": candidate.get("higher_is_better", True),
            "held_out": candidate.get("held_out"),
            "candidate": {"version": candidate.get("version"), "value": candidate.get("value")},
            "incumbent": incumbent, "base_zero_shot": candidate.get("baseline")}


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
            "merge_verified": (manifest.get("merge") or {}).get("verified"),
            "baseline": ((ev.get("baselines") or {}).get("zero_shot") or {}).get(metric),
            "held_out": ev.get("held_out")}


def _data_version(held_out: Optional[dict[str, str]]) -> str:
    if not held_out:
        return "(not recorded)"
    return f"{str(held_out.get('data_version'))[:16]} (settings {held_out.get('settings')})"


def _number(v: Any) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f
