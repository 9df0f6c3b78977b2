"""Asset checks: the guarantees a run must hold before anything downstream trusts its output."""


import json

import dagster as dg
import pandas as pd

from resources.reports.markdown import frame_table, markdown_table
from resources.artifact_store import ArtifactStore


def _datasets_stats(store: ArtifactStore) -> dict:
    path = store.layout.datasets() / "stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


@dg.asset_check(asset="training_datasets", blocking=True,
                description="Every input row is in exactly one state (kept, duplicate, filtered, rejected), per "
                            "source and drop, and every line or record each drop file physically holds is an input "
                            "row.")
def rows_accounted(store: ArtifactStore) -> dg.AssetCheckResult:
    from resources.schema import SOURCES
    from resources.sources.physical import physical_accounting

    layout = store.layout
    folder = layout.datasets()
    table = pd.read_parquet(folder / "accounting.parquet")
    problems = [p for p in _datasets_stats(store).get("accounting_problems", []) if not p.startswith("source ")]
    # the ledger against what the files physically hold: a reader that swallowed rows balances the books above
    ledger = pd.read_parquet(folder / "ledger.parquet", columns=["source", "drop", "file"])
    files, physical = physical_accounting({s: layout.source_drops(s) for s in SOURCES}, ledger)
    problems += physical
    balanced = bool(table["balanced"].all()) and not problems
    return dg.AssetCheckResult(
        passed=balanced,
        metadata={"rows_in": dg.MetadataValue.int(int(table["rows_in"].sum())),
                  "physical_records": dg.MetadataValue.int(int(files["expected"].sum()) if len(files) else 0),
                  "per_drop": dg.MetadataValue.md(frame_table(table, 50)),
                  "per_file": dg.MetadataValue.md(frame_table(files, 50)),
                  "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")})


@dg.asset_check(asset="training_datasets", blocking=True,
                description="Share of rejected rows per source: warns above reject_warn_rate, fails above "
                            "reject_fail_rate (the embedded samples plant malformed rows on purpose, so they warn).")
def reject_rate(store: ArtifactStore) -> dg.AssetCheckResult:
    sources = pd.read_parquet(store.layout.datasets() / "accounting_sources.parquet")
    highest = float(sources["reject_rate"].max()) if len(sources) else 0.0
    worst = "fail" if (sources["status"] == "fail").any() else "warn" if (sources["status"] == "warn").any() else "ok"
    return dg.AssetCheckResult(
        passed=worst == "ok",
        severity=dg.AssetCheckSeverity.ERROR if worst == "fail" else dg.AssetCheckSeverity.WARN,
        metadata={"per_source": dg.MetadataValue.md(frame_table(sources)),
                  "max_reject_rate": dg.MetadataValue.float(highest)})


def _unseen_leaks(store: ArtifactStore, stats: dict) -> list[list[str]]:
    """[train id, what] for every training row that names an unseen product or is itself an unseen item.

    Read from the files rather than trusted from the build's stats, so a bug in the carving cannot vouch for
    itself."""
    from resources.prepare.unseen import UNSEEN_EVAL_FILE, rows_mentioning

    terms = (stats.get("unseen_eval") or {}).get("terms") or []
    folder = store.layout.datasets()
    if not terms or not (folder / "train.parquet").exists():
        return []
    train = pd.read_parquet(folder / "train.parquet")
    found = [[i, f"mentions {t!r}"] for i, t in rows_mentioning(train, terms)]
    if (folder / UNSEEN_EVAL_FILE).exists():
        unseen = set(pd.read_parquet(folder / UNSEEN_EVAL_FILE, columns=["id"])["id"].astype(str))
        held = set(pd.read_parquet(folder / "eval.parquet", columns=["id"])["id"].astype(str))
        found += [[i, "is an unseen item"] for i in sorted(unseen & set(train["id"].astype(str)))]
        found += [[i, "is in eval.parquet too"] for i in sorted(unseen & held)]
    return found


@dg.asset_check(asset="training_datasets", blocking=True,
                description="No training item near-duplicates a held-out or unseen-product item (MinHash LSH, verified "
                            "Jaccard), and none names an unseen product (PrepareConfig.unseen_terms).")
def no_leakage(store: ArtifactStore) -> dg.AssetCheckResult:
    stats = _datasets_stats(store)
    leaks = stats.get("leaks", [])
    unseen = _unseen_leaks(store, stats)
    dec = stats.get("decontamination", {})
    return dg.AssetCheckResult(
        passed=not leaks and not unseen,
        metadata={"leaks": dg.MetadataValue.int(len(leaks)),
                  "unseen_product_leaks": dg.MetadataValue.int(len(unseen)),
                  "unseen_examples": dg.MetadataValue.md(markdown_table(["row", "problem"], unseen[:20])
                                                         if unseen else "none"),
                  "removed_contaminating_eval": dg.MetadataValue.int(int(dec.get("contaminates_eval", 0))),
                  "removed_contaminating_benchmark": dg.MetadataValue.int(int(dec.get("contaminates_benchmark", 0))),
                  "examples": dg.MetadataValue.md(markdown_table(["train id", "held-out id", "jaccard"], leaks[:20])
                                                  if leaks else "none")})


@dg.asset_check(asset="training_datasets", blocking=True,
                description="No training item contains a held-out or benchmark item (13-gram / 8-gram containment).")
def no_contamination(store: ArtifactStore) -> dg.AssetCheckResult:
    from resources.prepare.decontaminate import contaminated_items

    stats = _datasets_stats(store)
    # a build from before containment existed never looked: unknown is not clean
    remaining = stats.get("contamination_remaining")
    dec = stats.get("decontamination", {})
    removed = contaminated_items(dec)
    return dg.AssetCheckResult(
        passed=remaining == [],
        metadata={"remaining": dg.MetadataValue.int(len(remaining or [])),
                  "checked": dg.MetadataValue.bool(remaining is not None),
                  "removed_contaminating_eval": dg.MetadataValue.int(int(dec.get("contaminates_eval", 0))),
                  "removed_contaminating_benchmark": dg.MetadataValue.int(int(dec.get("contaminates_benchmark", 0))),
                  "contaminated_items": dg.MetadataValue.md(
                      markdown_table(["kind", "item", "training rows removed"], removed) if removed else "none"),
                  "remaining_rows": dg.MetadataValue.md(
                      markdown_table(["train id", "kind", "item"], remaining[:20]) if remaining else "none")})


@dg.asset_check(asset="evaluation_summary", blocking=True,
                description="The chosen checkpoint has an evaluation report and no forgetting flag.")
def chosen_checkpoint_is_sound(store: ArtifactStore) -> dg.AssetCheckResult:
    path = store.layout.evaluation_summary()
    summary = json.loads(path.read_text()) if path.exists() else {}
    best = summary.get("best") or {}
    key = best.get("checkpoint")
    report = store.layout.evaluation(key) / "report.json" if key else None
    flagged = bool(best.get("forgetting_flagged", False))
    has_report = bool(report and report.exists())
    return dg.AssetCheckResult(
        passed=bool(key) and has_report and not flagged,
        metadata={"checkpoint": key or "none", "has_report": dg.MetadataValue.bool(has_report),
                  "forgetting_flagged": dg.MetadataValue.bool(flagged)})


all_checks = [rows_accounted, reject_rate, no_leakage, no_contamination, chosen_checkpoint_is_sound]
