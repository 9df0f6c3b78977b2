"""DPO: the best SFT checkpoint trained further on preference pairs, in its own process like SFT.

Its checkpoints become partitions of ``checkpoint_evaluation`` like SFT's, so they get the same report and
forgetting check, and ``evaluation_summary`` lets them compete with the SFT checkpoints for promotion on the same
held-out set. Held-out preference accuracy and reward margin per checkpoint are this asset's own metadata.
"""

import json
from pathlib import Path

import dagster as dg

from assets import GPU, group_asset, on_changed_inputs, register_checkpoints
from resources.artifact_store import ArtifactStore
from resources.layout import Layout
from resources.model.handle import BaseModelHandle
from resources.reports.display import shown
from resources.reports.markdown import markdown_table
from resources.storage import content_hash, write_json
from resources.training.launcher import Trainer
from resources.training.preference_settings import PreferenceTrainer
from resources.training.run_key import training_run_key
from resources.training.runs import train_or_reuse


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def _nothing_to_train(layout: Layout, reason: str) -> dg.MaterializeResult:
    write_json(layout.current_preference_run(), {"checkpoints": [], "reason": reason})
    return dg.MaterializeResult(data_version=dg.DataVersion("untrained"),
                                metadata={"trained": dg.MetadataValue.bool(False), "reason": reason})


def _held_out(layout: Layout, base: BaseModelHandle, run_key: str, init: Path, keys: list[str], cfg) -> dict:
    """The held-out pairs scored by every checkpoint of the run, reused while pairs and checkpoints are unchanged."""
    from resources.evaluation.preference import score_checkpoints
    from resources.reports.cache import is_fresh, record

    eval_path = layout.preferences() / "eval.parquet"
    if _rows(eval_path) == 0:
        return {"checkpoints": [], "note": "no held-out preference pairs"}
    out = layout.preference_evaluation(run_key)
    dirs = [(k, int(k.rsplit("-", 1)[1]), layout.checkpoint(k)) for k in keys]
    inputs = {"eval": content_hash(eval_path), "init": content_hash(*sorted(init.glob("adapter_*"))),
              "beta": cfg.beta, "max_seq_len": cfg.max_seq_len,
              "checkpoints": {k: content_hash(*sorted(d.glob("adapter_*"))) for k, _, d in dirs}}
    if is_fresh(out, inputs):
        return json.loads((out / "report.json").read_text())
    try:
        report = score_checkpoints(base.folder, init, dirs, eval_path, beta=cfg.beta, max_seq_len=cfg.max_seq_len,
                                   **base.load_options())
    except ValueError as exc:  # no usable held-out pair (each one's reason is in the message): say so, train on
        return {"checkpoints": [], "note": f"held-out pairs not scored: {exc}"}
    write_json(out / "report.json", report)
    record(out, inputs)
    return report


@group_asset("train")(
    automation_condition=on_changed_inputs, pool="gpu", tags={**GPU, "stage": "dpo"},
    deps=[dg.AssetKey("preference_pairs"), dg.AssetKey("evaluation_summary"), dg.AssetKey("base_model")])
def preference_adapter(context: dg.AssetExecutionContext, store: ArtifactStore, trainer: Trainer,
                       dpo: PreferenceTrainer) -> dg.MaterializeResult:
    """DPO from the best SFT checkpoint (also the frozen reference) on the preference pairs: 4-bit base, own process
    (Dagster Pipes), checkpointed, resumable; held-out preference accuracy and reward margin per checkpoint."""
    from resources.evaluation.preference import preference_plot_md
    from resources.training.checkpointing import adapter_hash
    from resources.training.launcher import plot_loss_curve

    layout = store.layout
    summary_path = layout.evaluation_summary()
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    start = summary.get("best_sft")
    train_path = layout.preferences() / "train.parquet"
    if not start:
        return _nothing_to_train(layout, "no SFT checkpoint to start from: evaluation_summary chose none")
    if _rows(train_path) < dpo.min_pairs:
        return _nothing_to_train(layout, f"{_rows(train_path)} training pairs, fewer than dpo.min_pairs "
                                         f"({dpo.min_pairs}): corrections with the model's answer and filled "
                                         "rating sheets make pairs")
    handle = BaseModelHandle.read(layout.base_model_handle())
    init = layout.checkpoint(start["checkpoint"])
    cfg = dpo.config(trainer.train_config())
    run_key = "dpo-" + training_run_key(train_path, handle.version, cfg, init=adapter_hash(init))
    keys, reported = train_or_reuse(
        context, trainer, store, run_key, cfg.max_steps, what=f"DPO run (from {start['checkpoint']})",
        unchanged="same pairs, start and settings", base_model_dir=handle.folder, train_path=train_path,
        config=cfg, init_adapter=init, **handle.load_options())
    register_checkpoints(context.instance, keys)
    write_json(layout.current_preference_run(),
               {"run_key": run_key, "checkpoints": keys, "init_checkpoint": start["checkpoint"]})
    out = layout.adapter_run(run_key)
    held_out = _held_out(layout, handle, run_key, init, keys, cfg)
    rows = [(r["step"], shown(r["reward_accuracy"]), shown(r["reward_margin"]), shown(r["likelihood_accuracy"]))
            for r in held_out.get("checkpoints", [])]
    if held_out.get("reference"):
        rows.insert(0, ("SFT", "–", "–", shown(held_out["reference"]["likelihood_accuracy"])))
    last = (held_out.get("checkpoints") or [{}])[-1]
    log_path = out / "train_log.jsonl"
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(*sorted(layout.checkpoint(keys[-1]).glob("adapter_*")))),
        metadata={
            **reported,
            "run_key": run_key,
            "started_from": start["checkpoint"],
            "beta": cfg.beta, "loss_type": cfg.dpo_loss,
            "held_out_pairs": dg.MetadataValue.int(int(last.get("pairs", 0))),
            "held_out_reward_accuracy": shown(last.get("reward_accuracy")),
            "held_out_reward_margin": shown(last.get("reward_margin")),
            "held_out_preferences": dg.MetadataValue.md(
                markdown_table(["step", "reward acc.", "reward margin", "likelihood acc."], rows)
                if rows else held_out.get("note", "not scored")),
            "held_out_plot": dg.MetadataValue.md(preference_plot_md(held_out)),
            "loss_curve": dg.MetadataValue.md(plot_loss_curve(log_path)) if log_path.exists() else "no log",
            "path": dg.MetadataValue.path(str(out)),
        })
