"""Publishing: the best checkpoint merged and registered as a version, promoted through a gate, smoke-tested."""


import json
from importlib.metadata import version as package_version

import dagster as dg
import pandas as pd

from assets import group_asset, on_changed_inputs, on_new_evaluation
from resources.reports.display import shown
from resources.reports.markdown import markdown_table
from resources.layout import Layout
from resources.evaluation.evaluator import Evaluator
from resources.model.base_model import BaseModel
from resources.model.handle import BaseModelHandle
from resources.publishing.held_out import CurrentHeldOut
from resources.publishing.publisher import Publisher
from resources.artifact_store import ArtifactStore
from resources.storage import content_hash
from resources.training.launcher import Trainer
from resources.model.gguf import read_origin


publish_asset = group_asset("publish")


def _current_held_out(layout: Layout, evaluator: Evaluator, publisher: Publisher) -> CurrentHeldOut:
    """Today's held-out set, on which the candidate and the promoted version are compared."""
    handle = BaseModelHandle.read(layout.base_model_handle())
    return CurrentHeldOut(evaluator, layout.datasets() / "eval.parquet", handle.folder, handle.version,
                          scores_dir=lambda version: layout.version_scores(publisher.model_name, version),
                          **handle.load_options())


def _comparison_metadata(compared: dict) -> dict:
    """Candidate and promoted version on the same held-out set, as the UI shows them."""
    number = shown
    incumbent = compared.get("incumbent") or {}
    return {"primary_metric": str(compared.get("metric")),
            "held_out_data_version": str((compared.get("held_out") or {}).get("data_version", "not recorded")),
            "candidate_value": number((compared.get("candidate") or {}).get("value")),
            "incumbent_version": str(incumbent.get("version") or "none"),
            "incumbent_value_same_held_out": number(incumbent.get("value")),
            "incumbent_measured": str(incumbent.get("measured") or "nothing promoted"),
            "base_zero_shot_value": number(compared.get("base_zero_shot"))}


def _card_info(layout: Layout, base: BaseModel, trainer: Trainer, summary: dict, handle: BaseModelHandle,
               held_out: CurrentHeldOut) -> dict:
    from resources.training.checkpointing import read_state

    datasets = layout.datasets()
    stats = json.loads((datasets / "stats.json").read_text())
    train = pd.read_parquet(datasets / "train.parquet", columns=["source"])
    best = summary["best"]
    chosen = layout.checkpoint(best["checkpoint"])
    return {
        "code_version": package_version("privft"),
        "base_model": {"name": handle.name, "revision": handle.revision, "licence": base.licence_text(handle.folder),
                       "origin": read_origin(handle.folder), "trust_remote_code": handle.trust_remote_code,
                       "data_version": handle.version},
        "upstream": {"training_datasets": content_hash(datasets / "train.parquet", datasets / "eval.parquet"),
                     "base_model": handle.version,
                     "qlora_adapter": content_hash(*chosen.glob("adapter_*"))},
        "sources": {k: int(v) for k, v in train["source"].value_counts().sort_index().items()},
        # what the chosen checkpoint was trained with (a DPO checkpoint: objective, beta and its DPO schedule)
        "training": read_state(chosen).get("config") or trainer.train_config().to_dict(),
        "evaluation": {"primary_metric": summary["primary_metric"],
                       "higher_is_better": summary["primary_metric"] != "loss",
                       "primary_value": best["value"], "checkpoints": summary["checkpoints"],
                       "baselines": summary["baselines"], "chosen": best["checkpoint"],
                       # the summary was computed from the current training_datasets (see on_new_evaluation)
                       "held_out": held_out.key},
        "significance": summary.get("significance") or {},
        "significance_unseen": summary.get("significance_unseen") or {},
        "forgetting": {"flag": best["forgetting_flagged"],
                       "detail": next((c["forgetting"] for c in summary["checkpoints"]
                                       if c["checkpoint"] == best["checkpoint"]), {})},
        "leakage": {"count": len(stats.get("leaks", [])), "detail": stats.get("decontamination", {})},
        "training_records": stats.get("record_set"),
    }


@publish_asset(automation_condition=on_new_evaluation,
               deps=[dg.AssetKey("evaluation_summary"), dg.AssetKey("training_datasets"), dg.AssetKey("base_model")],
               kinds={"pytorch", "safetensors"}, code_version="2")
def model_version(context: dg.AssetExecutionContext, store: ArtifactStore, base: BaseModel, trainer: Trainer,
                  evaluator: Evaluator, publisher: Publisher) -> dg.MaterializeResult:
    """The best checkpoint merged into the base (reloaded in the publish dtype), verified, with card and manifest."""
    layout = store.layout
    summary = json.loads(layout.evaluation_summary().read_text())
    best = summary.get("best")
    if not best:
        raise dg.Failure("no checkpoint is eligible for publishing: every one is flagged for forgetting or lacks "
                         "the primary metric (see evaluation_summary)")
    handle = BaseModelHandle.read(layout.base_model_handle())
    held_out = _current_held_out(layout, evaluator, publisher)
    info = _card_info(layout, base, trainer, summary, handle, held_out)
    inputs = {**info["upstream"], "code_version": info["code_version"]}
    published = publisher.publish_version(layout.registry_root(), base_model_dir=handle.folder,
                                          adapter_dir=layout.checkpoint(best["checkpoint"]), inputs=inputs,
                                          card_info=info, **handle.load_options(), held_out=held_out)
    merge = published.manifest.get("merge", {})
    card = (published.path / "MODEL_CARD.md").read_text()
    context.log.info(f"version {published.version} {'published' if published.created else 'already existed'}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(published.version),
        metadata={"version": published.version, "new_version": dg.MetadataValue.bool(published.created),
                  "checkpoint": best["checkpoint"],
                  "merge_verified": dg.MetadataValue.bool(bool(merge.get("verified"))),
                  "merge_max_abs_logit_diff": shown(merge.get("max_abs_diff")),
                  **_comparison_metadata(published.manifest.get("comparison") or {}),
                  "model_card": dg.MetadataValue.md(card[:60000]),
                  "path": dg.MetadataValue.path(str(published.path))})


@publish_asset(automation_condition=on_changed_inputs, deps=[model_version], kinds={"python"}, code_version="2")
def promoted_model(context: dg.AssetExecutionContext, store: ArtifactStore, evaluator: Evaluator,
                   publisher: Publisher) -> dg.MaterializeResult:
    """Moves the promoted pointer to the new version only if it beats the promoted one on the current held-out set
    (re-evaluating that one there if needed), beats the base model zero-shot, and every other gate passes."""
    layout = store.layout
    registry = publisher.registry(layout.registry_root())
    candidate = max(registry.versions(), key=lambda v: (registry.path(v) / "manifest.json").stat().st_mtime)
    held_out = _current_held_out(layout, evaluator, publisher)
    result = publisher.promote_if_better(layout.registry_root(), candidate, held_out)
    context.log.info(f"gate {'passed' if result.passed else 'failed'} for {candidate}: " + "; ".join(result.reasons))
    promoted = registry.promoted()
    return dg.MaterializeResult(
        data_version=dg.DataVersion(promoted or "none"),
        metadata={"candidate": candidate, "gate_passed": dg.MetadataValue.bool(result.passed),
                  "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in result.reasons)),
                  **_comparison_metadata(result.compared),
                  "promoted": promoted or "none",
                  "path": dg.MetadataValue.path(str(registry.path(promoted) if promoted else layout.registry_root()))})


@publish_asset(automation_condition=on_changed_inputs, deps=[promoted_model], kinds={"pytorch"})
def smoke_inference(context: dg.AssetExecutionContext, store: ArtifactStore,
                    publisher: Publisher) -> dg.MaterializeResult:
    """The promoted model answers fixed prompts; latency of the merged model beside base + adapter."""
    layout = store.layout
    registry = publisher.registry(layout.registry_root())
    promoted = registry.promoted()
    if not promoted:
        raise dg.Failure("no promoted model version yet: promoted_model has not passed its gate")
    handle = BaseModelHandle.read(layout.base_model_handle())
    result = publisher.smoke(layout.registry_root(), promoted, handle.folder, **handle.load_options())
    answers = [(a["prompt"], a["merged"], "yes" if a["equal"] else "NO") for a in result.get("answers", [])]
    latency = result.get("latency", {})
    return dg.MaterializeResult(
        metadata={"version": promoted,
                  "reused_earlier_result": dg.MetadataValue.bool(bool(result.get("reused"))),
                  "answers": dg.MetadataValue.md(markdown_table(["prompt", "merged model", "same as base+adapter"],
                                                                answers)),
                  "merged_latency_s": shown(latency.get("merged_s")),
                  "base_plus_adapter_latency_s": shown(latency.get("base_plus_adapter_s"))})
