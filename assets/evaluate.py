"""Evaluation: prompting baselines of the base model, one report per checkpoint, and the chosen best."""


import json

import dagster as dg

from assets import (CHECKPOINT_PARTITIONS, GPU, group_asset, on_all_checkpoints_evaluated, on_changed_inputs,
                    on_new_checkpoint)
from resources.reports.markdown import markdown_table
from resources.dedup.resource import Deduplicator
from resources.evaluation.evaluator import Evaluator
from resources.evaluation.unseen import unseen_path
from resources.layout import Layout
from resources.model.handle import BaseModelHandle
from resources.artifact_store import ArtifactStore
from resources.reports.cache import is_fresh, record
from resources.reports.display import shown
from resources.storage import content_hash, write_json

evaluate_asset = group_asset("evaluate")


def _inputs(layout: Layout, base: BaseModelHandle, evaluator: Evaluator, adapter_dir=None) -> dict:
    datasets = layout.datasets()
    inputs = {"eval": content_hash(datasets / "eval.parquet"), "train": content_hash(datasets / "train.parquet"),
              "base": base.version, "evaluator": evaluator.model_dump() if hasattr(evaluator, "model_dump") else {}}
    unseen = unseen_path(datasets / "eval.parquet")
    if unseen.exists():  # only when present, so reports from before unseen products stay fresh
        inputs["eval_unseen"] = content_hash(unseen)
    if adapter_dir is not None:
        inputs["adapter"] = content_hash(*sorted(adapter_dir.glob("adapter_*")))
    return inputs


def _headline(report: dict) -> dict:
    overall = report.get("overall", {})
    return {k: v for k, v in overall.items() if isinstance(v, (int, float))}


@evaluate_asset(automation_condition=on_changed_inputs,
                deps=[dg.AssetKey("training_datasets"), dg.AssetKey("base_model")], kinds={"pytorch"}, tags=GPU)
def base_baselines(context: dg.AssetExecutionContext, store: ArtifactStore,
                   evaluator: Evaluator) -> dg.MaterializeResult:
    """What prompting alone achieves: the base model zero-shot and few-shot on the held-out set."""
    layout = store.layout
    out = layout.baselines()
    handle = BaseModelHandle.read(layout.base_model_handle())
    inputs = _inputs(layout, handle, evaluator)
    if is_fresh(out, inputs):
        context.log.info("baselines unchanged since the last run (same model, data, settings): reusing the report")
        report = json.loads((out / "report.json").read_text())
    else:
        report = evaluator.evaluate_baselines(base_model_dir=handle.folder, **handle.load_options(),
                                              eval_path=layout.datasets() / "eval.parquet",
                                              train_path=layout.datasets() / "train.parquet", out_dir=out)
        record(out, inputs)
    blocks = [(name, r) for name, r in report.items() if isinstance(r, dict) and "overall" in r]
    blocks += [(f"{name} (unseen products)", r) for name, r in (report.get("unseen") or {}).items()]
    metrics = ("exact_match", "token_f1", "rougeL")
    rows = [(name, *(f"{_headline(r).get(m, float('nan')):.4f}" for m in metrics)) for name, r in blocks]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(out / "report.json")),
        metadata={"baselines": dg.MetadataValue.md(markdown_table(["baseline", *metrics], rows)),
                  "path": dg.MetadataValue.path(str(out))})


# pool "evaluation" (limit 1 unless raised with `dagster instance concurrency set evaluation N`): a training run
# yields several checkpoints at once, and evaluating them all side by side oversubscribes a small machine
@evaluate_asset(automation_condition=on_new_checkpoint, partitions_def=CHECKPOINT_PARTITIONS, pool="evaluation",
                deps=[dg.AssetKey("qlora_adapter"), dg.AssetKey("training_datasets"), dg.AssetKey("base_model")],
                kinds={"pytorch"}, tags=GPU)
def checkpoint_evaluation(context: dg.AssetExecutionContext, store: ArtifactStore, evaluator: Evaluator,
                          dedup: Deduplicator) -> dg.MaterializeResult:
    """One checkpoint's report: EM, token F1, ROUGE, JSON fields, loss, and the forgetting check."""
    layout = store.layout
    key = context.partition_key
    out = layout.evaluation(key)
    handle = BaseModelHandle.read(layout.base_model_handle())
    inputs = _inputs(layout, handle, evaluator, layout.checkpoint(key))
    if is_fresh(out, inputs):
        context.log.info(f"{key}: checkpoint and held-out data unchanged since its report: reusing it")
        report = json.loads((out / "report.json").read_text())
    else:
        report = evaluator.evaluate_checkpoint(
            base_model_dir=handle.folder, **handle.load_options(), adapter_dir=layout.checkpoint(key),
            eval_path=layout.datasets() / "eval.parquet", train_path=layout.datasets() / "train.parquet",
            out_dir=out, near_pairs=dedup.near_pairs)
        record(out, inputs)
    forgetting = report.get("forgetting", {})
    md = (out / "report.md").read_text() if (out / "report.md").exists() else ""
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(out / "report.json")),
        metadata={
            **{k: shown(v) for k, v in _headline(report).items()},
            **{f"unseen_{k}": shown(v) for k, v in _headline(report.get("unseen") or {}).items()},
            "forgetting_flagged": dg.MetadataValue.bool(bool(forgetting.get("flagged", False))),
            "forgetting_diff": shown(forgetting.get("diff") or 0.0),
            # "smoke" on the generated toy benchmark: the UI must not pass it off as a forgetting check
            "forgetting_check": str(forgetting.get("kind", "not recorded")),
            "forgetting_summary": str(forgetting.get("kind_note") or "") + " " + str(forgetting.get("summary") or ""),
            "report": dg.MetadataValue.md(md[:60000]),
            "path": dg.MetadataValue.path(str(out)),
        })


@evaluate_asset(automation_condition=on_all_checkpoints_evaluated, deps=[checkpoint_evaluation, base_baselines],
                kinds={"python"})
def evaluation_summary(context: dg.AssetExecutionContext, store: ArtifactStore,
                       evaluator: Evaluator) -> dg.MaterializeResult:
    """All checkpoints of the current adapter side by side with the baselines; picks the best one."""
    from resources.reports.summary import summarise
    from resources.training.runs import latest_run, preference_run

    layout = store.layout
    run = latest_run(layout)
    # DPO checkpoints are read from disk, not declared: preference_adapter starts from this summary's best_sft
    summary = summarise(evaluator, layout, run.get("checkpoints", []), preference_run(layout))
    out = layout.evaluation_summary()
    write_json(out, summary["json"])
    best = summary["json"].get("best") or {}
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(out)),
        metadata={
            "best_checkpoint": best.get("checkpoint", "none"),
            "best_objective": best.get("objective", "none"),
            "primary_metric": evaluator.primary_metric,
            "best_value": shown(best.get("value")),
            "comparison": dg.MetadataValue.md(summary["table_md"]),
            "checkpoints": dg.MetadataValue.md(summary["checkpoints_md"]),
            "vs_prompting": dg.MetadataValue.md(summary["vs_prompting_md"] or "no best checkpoint"),
            **({"unseen_products": dg.MetadataValue.md(summary["unseen_md"])} if summary["unseen_md"] else {}),
            "metrics_vs_step": dg.MetadataValue.md(summary["plot_md"]),
            "path": dg.MetadataValue.path(str(out)),
        })
