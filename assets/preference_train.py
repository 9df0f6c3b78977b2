"""DPO: the best SFT checkpoint trained further on preference pairs, in its own process like SFT.

Its checkpoints become partitions of ``checkpoint_evaluation`` like SFT's, so they get the same report and
forgetting check, and ``evaluation_summary`` lets them compete with the SFT checkpoints for promotion on the same
held-out set. Held-out preference accuracy and reward margin per checkpoint are this asset's own metadata.
"""

import json
from pathlib import Path

import dagster as dg

from assets.conditions import on_changed_inputs
from assets.partitions import CHECKPOINT_PARTITIONS
from assets.train import checkpoint_dir, checkpoint_key, training_run_key
from resources.artifact_store import ArtifactStore, publishes_artifacts
from resources.layout import Layout
from resources.model.base_model import BaseModel
from resources.reports.display import shown
from resources.reports.markdown import markdown_table
from resources.storage import content_hash, write_json
from resources.training.launcher import Trainer
from resources.training.preference_settings import PreferenceTrainer


def preference_run(layout: Layout) -> dict:
    """{"run_key", "checkpoints", "init_checkpoint"} of the current DPO run; {} before the first one."""
    path = layout.root / "adapters" / "preference_latest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def _nothing_to_train(layout: Layout, reason: str) -> dg.MaterializeResult:
    write_json(layout.root / "adapters" / "preference_latest.json", {"checkpoints": [], "reason": reason})
    return dg.MaterializeResult(data_version=dg.DataVersion("untrained"),
                                metadata={"trained": dg.MetadataValue.bool(False), "reason": reason})


def _held_out(layout: Layout, base_dir: Path, run_key: str, init: Path, keys: list[str], cfg, base) -> dict:
    """The held-out pairs scored by every checkpoint of the run, reused while pairs and checkpoints are unchanged."""
    from resources.evaluation.preference import score_checkpoints
    from resources.reports.cache import is_fresh, record

    eval_path = layout.preferences() / "eval.parquet"
    if _rows(eval_path) == 0:
        return {"checkpoints": [], "note": "no held-out preference pairs"}
    out = layout.root / "evaluations" / "preferences" / run_key
    dirs = [(k, int(k.rsplit("-", 1)[1]), checkpoint_dir(layout, k)) for k in keys]
    inputs = {"eval": content_hash(eval_path), "init": content_hash(*sorted(init.glob("adapter_*"))),
              "beta": cfg.beta, "max_seq_len": cfg.max_seq_len,
              "checkpoints": {k: content_hash(*sorted(d.glob("adapter_*"))) for k, _, d in dirs}}
    if is_fresh(out, inputs):
        return json.loads((out / "report.json").read_text())
    try:
        report = score_checkpoints(base_dir, init, dirs, eval_path, beta=cfg.beta, max_seq_len=cfg.max_seq_len,
                                   trust_remote_code=base.trust_remote_code)
    except ValueError as exc:  # no usable held-out pair (each one's reason is in the message): say so, train on
        return {"checkpoints": [], "note": f"held-out pairs not scored: {exc}"}
    write_json(out / "report.json", report)
    record(out, inputs)
    return report


@dg.asset(automation_condition=on_changed_inputs, group_name="train", pool="gpu",
          deps=[dg.AssetKey("preference_pairs"), dg.AssetKey("evaluation_summary"), dg.AssetKey("base_model")],
          kinds={"pytorch", "peft"}, tags={"compute": "gpu", "stage": "dpo"}, owners=["team:ml"], code_version="1",
          description="DPO from the best SFT checkpoint (also the frozen reference) on the preference pairs: "
                      "4-bit base, own process (Dagster Pipes), checkpointed, resumable; held-out preference "
                      "accuracy and reward margin per checkpoint.")
@publishes_artifacts
def preference_adapter(context: dg.AssetExecutionContext, store: ArtifactStore, base: BaseModel, trainer: Trainer,
                       dpo: PreferenceTrainer) -> dg.MaterializeResult:
    from resources.evaluation.preference import preference_plot_md
    from resources.training.checkpointing import adapter_hash, latest_checkpoint, read_state
    from resources.training.launcher import plot_loss_curve

    layout = Layout(store.path())
    summary_path = layout.root / "evaluations" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    start = summary.get("best_sft")
    train_path = layout.preferences() / "train.parquet"
    if not start:
        return _nothing_to_train(layout, "no SFT checkpoint to start from: evaluation_summary chose none")
    if _rows(train_path) < dpo.min_pairs:
        return _nothing_to_train(layout, f"{_rows(train_path)} training pairs, fewer than dpo.min_pairs "
                                         f"({dpo.min_pairs}): corrections with the model's answer and filled "
                                         "rating sheets make pairs")
    base_dir = base.local_dir(layout.base_model(base.slug()))
    init = checkpoint_dir(layout, start["checkpoint"])
    cfg = dpo.config(trainer.train_config())
    run_key = "dpo-" + training_run_key(train_path, base_dir, {**cfg.to_dict(), "init": adapter_hash(init)})
    out = layout.adapter_run(run_key)
    final = latest_checkpoint(out)
    reported = {}
    if final is not None and read_state(final).get("step", 0) >= cfg.max_steps:
        context.log.info(f"DPO run {run_key} already complete at {final.name}: same pairs, start and settings")
    else:
        context.log.info(f"DPO run {run_key} from {start['checkpoint']} -> {out}")
        invocation = trainer.run(context, base_model_dir=base_dir, train_path=train_path, output_dir=out,
                                 artifacts={"uri": store.uri, "root": str(store.path())}, config=cfg,
                                 init_adapter=init)
        if store.uri:  # a pod on another node published the checkpoints; bring them here
            store.mirror().pull([str(out.relative_to(store.path()))])
        reported = invocation.get_materialize_result().metadata or {}

    steps = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if p.is_dir())
    keys = [checkpoint_key(run_key, s) for s in steps]
    context.instance.add_dynamic_partitions(CHECKPOINT_PARTITIONS.name, keys)
    write_json(layout.root / "adapters" / "preference_latest.json",
               {"run_key": run_key, "checkpoints": keys, "init_checkpoint": start["checkpoint"]})
    held_out = _held_out(layout, base_dir, run_key, init, keys, cfg, base)
    rows = [(r["step"], shown(r["reward_accuracy"]), shown(r["reward_margin"]), shown(r["likelihood_accuracy"]))
            for r in held_out.get("checkpoints", [])]
    if held_out.get("reference"):
        rows.insert(0, ("SFT", "–", "–", shown(held_out["reference"]["likelihood_accuracy"])))
    last = (held_out.get("checkpoints") or [{}])[-1]
    log_path = out / "train_log.jsonl"
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(*sorted(checkpoint_dir(layout, keys[-1]).glob("adapter_*")))),
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
