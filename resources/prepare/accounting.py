"""Row accounting: every input row ends in exactly one state, and the books balance per source and drop.

Each stage writes a ledger row per row it saw; ``merge_ledgers`` folds them into one final row per id (a later
stage's decision overrides an earlier ``kept``, never the other way round), and ``account`` checks
rows in == kept + duplicate + filtered + rejected for every (source, drop), and that no source rejects too much
of its input (a high reject rate usually means a changed export format, not bad data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from resources.schema import DUPLICATE, FILTERED, KEPT, LEDGER_COLUMNS, REJECTED, ROW_STATES

_EXAMPLES = 5  # ids quoted per problem, enough to find the rows without flooding the UI


def merge_ledgers(*ledgers: pd.DataFrame) -> pd.DataFrame:
    """One final row per id, stages given in pipeline order.

    A later non-``kept`` decision replaces an earlier ``kept``; a decided row (duplicate, filtered, rejected)
    is final. ``file`` and ``line`` are kept from the first stage that knew them (the source reader).
    """
    final: dict[str, dict] = {}
    for frame in ledgers:
        if frame is None or len(frame) == 0:
            continue
        missing = [c for c in LEDGER_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"merge_ledgers: a ledger lacks columns {missing}; build rows with schema.ledger_entry")
        for row in frame[list(LEDGER_COLUMNS)].to_dict("records"):
            prev = final.get(row["id"])
            if prev is None:
                final[row["id"]] = row
            elif prev["state"] == KEPT and row["state"] != KEPT:
                final[row["id"]] = {**row, "file": row["file"] or prev["file"], "line": row["line"] or prev["line"]}
            elif prev["state"] == KEPT:
                # both kept: keep the latest stage's name (and note, such as what scrubbing replaced), and the
                # first file/line
                final[row["id"]] = {**prev, "stage": row["stage"] or prev["stage"],
                                    "reason": row["reason"] or prev["reason"]}
    merged = pd.DataFrame(list(final.values()), columns=list(LEDGER_COLUMNS))
    # reasons may quote raw field values (e.g. an unexpected verdict); the ledger travels further than raw data
    from resources.prepare.pii import scrub_pii

    merged["reason"] = [scrub_pii(r)[0] if isinstance(r, str) and r else r for r in merged["reason"]]
    return merged


@dataclass
class AccountingReport:
    table: pd.DataFrame                      # per (source, drop): rows_in, each state, balanced, reject_rate
    sources: pd.DataFrame                    # per source: rows_in, rejected, reject_rate, status ok/warn/fail
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _input_counts(inputs) -> tuple[dict[tuple[str, str], int], set[str] | None]:
    """Rows in per (source, drop), and the input ids when the caller listed them."""
    if isinstance(inputs, Mapping):
        return {(str(s), str(d)): int(n) for (s, d), n in inputs.items()}, None
    if isinstance(inputs, pd.DataFrame):
        if "id" in inputs.columns:
            counts = Counter(zip(inputs["source"].astype(str), inputs["drop"].astype(str)))
            return dict(counts), set(inputs["id"].astype(str))
        col = "rows_in" if "rows_in" in inputs.columns else "rows"
        if col in inputs.columns:
            return {(str(s), str(d)): int(n) for s, d, n in zip(inputs["source"], inputs["drop"], inputs[col])}, None
    raise TypeError("account: inputs must be {(source, drop): rows_in}, a frame with source, drop, rows_in, "
                    "or a frame listing every input row (id, source, drop)")


def _ids(series: pd.Series) -> str:
    items = sorted(map(str, series))
    more = f" and {len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else ""
    return ", ".join(items[:_EXAMPLES]) + more


def account(ledger: pd.DataFrame, inputs, *, warn_rate: float = 0.05, fail_rate: float = 0.25) -> AccountingReport:
    """Check the merged ledger against the input row counts; problems empty means the books balance."""
    problems, warnings = [], []
    expected, input_ids = _input_counts(inputs)
    led = ledger.copy()
    led["source"], led["drop"], led["id"] = led["source"].astype(str), led["drop"].astype(str), led["id"].astype(str)

    dup = led["id"].duplicated(keep=False)
    if dup.any():
        problems.append(f"{led.loc[dup, 'id'].nunique()} ids have more than one ledger row "
                        f"({_ids(led.loc[dup, 'id'].drop_duplicates())}): merge stage ledgers with merge_ledgers")
    bad_state = ~led["state"].isin(ROW_STATES)
    if bad_state.any():
        problems.append(f"{int(bad_state.sum())} ledger rows have an unknown state "
                        f"{sorted(set(led.loc[bad_state, 'state'].astype(str)))} ({_ids(led.loc[bad_state, 'id'])})")
    no_target = (led["state"] == DUPLICATE) & (led["duplicate_of"].fillna("").astype(str) == "")
    if no_target.any():
        problems.append(f"{int(no_target.sum())} duplicate rows do not say what they duplicate "
                        f"({_ids(led.loc[no_target, 'id'])})")
    no_reason = led["state"].isin([FILTERED, REJECTED]) & (led["reason"].fillna("").astype(str) == "")
    if no_reason.any():
        problems.append(f"{int(no_reason.sum())} filtered/rejected rows give no reason "
                        f"({_ids(led.loc[no_reason, 'id'])})")
    dangling = (led["state"] == DUPLICATE) & ~led["duplicate_of"].isin(led["id"]) & ~no_target
    if dangling.any():
        warnings.append(f"{int(dangling.sum())} duplicate rows point at ids not in this ledger "
                        f"({_ids(led.loc[dangling, 'id'])})")
    if input_ids is not None:
        missing = input_ids - set(led["id"])
        extra = set(led["id"]) - input_ids
        if missing:
            problems.append(f"{len(missing)} input rows have no ledger row ({_ids(pd.Series(list(missing)))}): "
                            "a stage dropped rows without recording why")
        if extra:
            problems.append(f"{len(extra)} ledger rows are not input rows ({_ids(pd.Series(list(extra)))})")

    states = (led.groupby(["source", "drop"])["state"].value_counts().unstack(fill_value=0)
              if len(led) else pd.DataFrame())
    rows = []
    for key in sorted(set(expected) | set(states.index if len(states) else [])):
        got = {s: int(states.loc[key, s]) if len(states) and key in states.index and s in states.columns else 0
               for s in ROW_STATES}
        n_in = expected.get(key)
        accounted = sum(got.values())
        if n_in is None:
            problems.append(f"{key[0]}/{key[1]}: {accounted} ledger rows but the drop is not among the inputs")
            n_in = 0
        elif n_in != accounted:
            problems.append(f"{key[0]}/{key[1]}: {n_in} rows in but {accounted} accounted for "
                            f"({', '.join(f'{s} {got[s]}' for s in ROW_STATES)}); "
                            f"{'rows vanished without a ledger row' if accounted < n_in else 'rows counted twice'}")
        rows.append({"source": key[0], "drop": key[1], "rows_in": n_in, **got, "balanced": n_in == accounted,
                     "reject_rate": round(got[REJECTED] / n_in, 4) if n_in else 0.0})
    table = pd.DataFrame(rows, columns=["source", "drop", "rows_in", *ROW_STATES, "balanced", "reject_rate"])

    per_source = []
    for source, part in table.groupby("source", sort=True):
        n_in, rejected = int(part["rows_in"].sum()), int(part[REJECTED].sum())
        rate = rejected / n_in if n_in else 0.0
        status = "fail" if rate > fail_rate else "warn" if rate > warn_rate else "ok"
        if status == "fail":
            problems.append(f"source {source}: {rejected} of {n_in} rows rejected ({rate:.1%} > {fail_rate:.0%}); "
                            "look at the ledger's rejected reasons: the export format may have changed")
        elif status == "warn":
            warnings.append(f"source {source}: {rejected} of {n_in} rows rejected ({rate:.1%} > {warn_rate:.0%})")
        per_source.append({"source": source, "rows_in": n_in, "rejected": rejected, "reject_rate": round(rate, 4),
                           "status": status})
    sources = pd.DataFrame(per_source, columns=["source", "rows_in", "rejected", "reject_rate", "status"])
    return AccountingReport(table=table, sources=sources, problems=problems, warnings=warnings)
