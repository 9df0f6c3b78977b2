"""Preference pairs for DPO: corrections (correction chosen, model output rejected) and rated answers (winner
chosen, loser rejected), cleaned, deduplicated, split and decontaminated like the SFT data."""

import dagster as dg

from assets import group_asset, on_changed_inputs
from resources.artifact_store import ArtifactStore
from resources.dedup.resource import Deduplicator
from resources.evaluation.evaluator import Evaluator
from resources.prepare.config import PrepareConfig
from resources.reports.markdown import frame_table, markdown_table


# Filled rating sheets are read from Layout.ratings() rather than declared as a dependency on human_ratings: that
# asset sits downstream of the evaluation that DPO checkpoints feed, so the edge would close a cycle. A sheet
# dropped there is picked up the next time the pairs are built.
@group_asset("prepare")(automation_condition=on_changed_inputs,
                        deps=[dg.AssetKey("corrected_outputs"), dg.AssetKey("training_datasets")])
def preference_pairs(context: dg.AssetExecutionContext, store: ArtifactStore, prepare: PrepareConfig,
                     dedup: Deduplicator, evaluator: Evaluator) -> dg.MaterializeResult:
    """DPO pairs from corrections and filled rating sheets: PII-scrubbed, deduplicated, split so no SFT held-out prompt
    is trained on, decontaminated; every input pair in the ledger."""
    from resources.datasets.benchmark_items import benchmark_items
    from resources.preference.build import build_preferences, data_version

    layout = store.layout
    result = build_preferences(layout, prepare=prepare, dedup=dedup, benchmark_items=benchmark_items(evaluator))
    for warning in result.warnings:
        context.log.warning(warning)
    out = layout.preferences()
    split, dec, clean = result.stats["split"], result.stats["decontamination"], result.stats["clean"]
    preview = result.preview.assign(**{k: result.preview[k].str.slice(0, 60) for k in ("chosen", "rejected")})
    return dg.MaterializeResult(
        data_version=dg.DataVersion(data_version(out)),
        metadata={
            "pairs_in": dg.MetadataValue.int(result.stats["inputs"]),
            "train_pairs": dg.MetadataValue.int(result.train_rows),
            "eval_pairs": dg.MetadataValue.int(result.eval_rows),
            "fates": dg.MetadataValue.md(markdown_table(["state", "pairs"], sorted(result.fates.items()))),
            "reasons": dg.MetadataValue.md(frame_table(result.reasons, 30) if len(result.reasons) else "none"),
            "per_source": dg.MetadataValue.md(frame_table(result.accounting, 30)),
            "held_out_by_sft_prompt": dg.MetadataValue.int(int(split["forced_to_eval"])),
            "removed_contaminating": dg.MetadataValue.int(int(dec.get("contaminates_eval", 0))
                                                          + int(dec.get("contaminates_benchmark", 0))),
            "pii_replaced": dg.MetadataValue.md(markdown_table(["type", "count"], sorted(clean["pii"].items()))),
            "train_preview": dg.MetadataValue.md(frame_table(preview, 5) if len(preview) else "no pairs"),
            "path": dg.MetadataValue.path(str(out)),
        })


@dg.asset_check(asset=preference_pairs, blocking=True,
                description="Every input pair (each row a corrections drop read, each record of a filled rating "
                            "sheet) has exactly one fate, and the kept pairs are exactly train + eval.")
def pairs_accounted(store: ArtifactStore) -> dg.AssetCheckResult:
    from resources.preference.checks import accounting_problems

    table, problems = accounting_problems(store.layout)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"pairs_in": dg.MetadataValue.int(int(table["pairs_in"].sum())),
                  "per_drop": dg.MetadataValue.md(frame_table(table, 50)),
                  "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")})


@dg.asset_check(asset=preference_pairs, blocking=True,
                description="No training pair asks a prompt of the SFT held-out sets (the stages do not leak).")
def no_held_out_prompt_in_train(store: ArtifactStore) -> dg.AssetCheckResult:
    from resources.preference.checks import held_out_prompts_in_train

    found = held_out_prompts_in_train(store.layout)
    return dg.AssetCheckResult(
        passed=not found,
        metadata={"leaks": dg.MetadataValue.int(len(found)),
                  "examples": dg.MetadataValue.md("\n".join(f"- {i}" for i in found[:20]) or "none")})


preference_checks = [pairs_accounted, no_held_out_prompt_in_train]
