"""Human preference ratings: a blinded A/B sheet of tuned vs base answers out, a filled sheet back in."""

import json

import dagster as dg

from assets import group_asset, on_new_evaluation
from resources.artifact_store import ArtifactStore
from resources.reports.display import shown
from resources.storage import content_hash

FILLED = "filled.csv"
evaluate_asset = group_asset("evaluate")


# on_new_evaluation, like the merge: a new baseline alone (the training set changed, training still running) must
# not make a sheet from the old summary's best checkpoint; the sheet follows the summary once it is recomputed
@evaluate_asset(automation_condition=on_new_evaluation,
                deps=[dg.AssetKey("evaluation_summary"), dg.AssetKey("base_baselines")], kinds={"html", "csv"})
def rating_sheet(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
    """Blinded pairwise sheet (best checkpoint vs base zero-shot, A/B order randomised) for raters."""
    from resources.evaluation.ratings import export_rating_sheet, pair_predictions

    layout = store.layout
    summary = json.loads(layout.evaluation_summary().read_text())
    best = (summary.get("best") or {}).get("checkpoint")
    if not best:
        raise dg.Failure("no best checkpoint to rate yet (see evaluation_summary)")
    items = pair_predictions(layout.evaluation(best) / "predictions.jsonl",
                             layout.baselines() / "predictions_zero_shot.jsonl")
    out = layout.ratings() / best
    paths = export_rating_sheet(items, out, seed=0, tuned_name=best, other_name="base zero-shot")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(paths["sheet"])),
        metadata={"items": dg.MetadataValue.int(len(items)), "checkpoint": best,
                  "page_for_raters": dg.MetadataValue.path(str(paths["html"])),
                  "drop_filled_sheet_here": dg.MetadataValue.path(str(out / FILLED))})


@evaluate_asset(deps=[rating_sheet], kinds={"python"})
def human_ratings(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
    """Win rate of the tuned model over the base from a filled rating sheet, with a 95 % interval."""
    from resources.evaluation.ratings import ingest_ratings

    layout = store.layout
    summary = json.loads(layout.evaluation_summary().read_text())
    folder = layout.ratings() / (summary.get("best") or {}).get("checkpoint", "")
    filled = folder / FILLED
    if not filled.exists():
        raise dg.Failure(f"no filled rating sheet yet: save the CSV downloaded from rate.html as {filled}")
    result = ingest_ratings(filled, folder / "key.json")
    invalid = result.get("invalid", [])
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(filled)),
        metadata={"win_rate": shown(result["win_rate"]),
                  "ci95_low": shown(result["ci95_low"]),
                  "ci95_high": shown(result["ci95_high"]),
                  "rated": dg.MetadataValue.int(int(result["n"])),
                  "invalid_rows": dg.MetadataValue.md("\n".join(f"- line {i['line']}: {i['reason']}" for i in invalid)
                                                      or "none")})
