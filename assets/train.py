"""Training: the base model (built, downloaded or local) and the QLoRA adapter trained in its own process."""


import json
from pathlib import Path

import dagster as dg

from assets import CPU, group_asset, on_changed_inputs, register_checkpoints
from resources.reports.markdown import markdown_table
from resources.model.base_model import BaseModel
from resources.model.handle import BaseModelHandle
from resources.model.gguf import read_origin
from resources.sources.catalog import SourceCatalog
from resources.artifact_store import ArtifactStore
from resources.storage import content_hash, write_json
from resources.training.launcher import Trainer
from resources.training.run_key import training_run_key
from resources.training.runs import train_or_reuse

train_asset = group_asset("train")


def _tokenizer_corpus(sample_root: str) -> list[str]:
    """Lines of the embedded sample files: the fixed corpus the built-in tokenizer is trained on."""
    from resources.prepare.pii import scrub_pii

    root = Path(sample_root)
    lines: list[str] = []
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".jsonl", ".csv", ".md", ".txt"):
            # scrubbed first: the tokenizer ships inside every merged model and must not learn personal data
            lines += [scrub_pii(line)[0] for line in f.read_text(encoding="utf-8", errors="replace").splitlines()]
    return lines


@train_asset(automation_condition=on_changed_inputs, kinds={"pytorch", "safetensors"}, tags=CPU, code_version="2")
def base_model(context: dg.AssetExecutionContext, store: ArtifactStore, base: BaseModel,
               catalog: SourceCatalog) -> dg.MaterializeResult:
    """The base model as a local safetensors folder: built-in tiny default, a GGUF file (dequantised once), a local path
    or a hub id."""
    layout = store.layout
    handle = base.resolve(layout.base_model(base.slug()), corpus=_tokenizer_corpus(catalog.sample_root))
    handle.write(layout.base_model_handle())  # what every later stage loads, with this model's trust settings
    path = handle.folder
    config = json.loads((path / "config.json").read_text())
    origin = read_origin(path)
    gguf = {"gguf_file": origin["file"], "gguf_sha256": origin["sha256"],
            "gguf_metadata": dg.MetadataValue.json(origin["metadata"])} if origin else {}
    return dg.MaterializeResult(
        data_version=dg.DataVersion(handle.version),
        metadata={
            "model": base.name,
            "architecture": ", ".join(config.get("architectures", [])),
            "hidden_size": dg.MetadataValue.int(int(config.get("hidden_size", 0))),
            "layers": dg.MetadataValue.int(int(config.get("num_hidden_layers", 0))),
            "vocab_size": dg.MetadataValue.int(int(config.get("vocab_size", 0))),
            "trust_remote_code": dg.MetadataValue.bool(handle.trust_remote_code),
            "allow_pickle": dg.MetadataValue.bool(handle.allow_pickle),
            "licence": base.licence_text(path),
            **gguf,
            "path": dg.MetadataValue.path(str(path)),
        })


@train_asset(automation_condition=on_changed_inputs, deps=[dg.AssetKey("training_datasets"), base_model], pool="gpu")
def qlora_adapter(context: dg.AssetExecutionContext, store: ArtifactStore, trainer: Trainer) -> dg.MaterializeResult:
    """QLoRA adapter: 4-bit NF4 base + LoRA, trained in its own process (Dagster Pipes), checkpointed."""
    from resources.training.launcher import plot_loss_curve
    from resources.training.run_outcome import heldout_curve_md, outcome

    layout = store.layout
    handle = BaseModelHandle.read(layout.base_model_handle())
    train_path, eval_path = layout.datasets() / "train.parquet", layout.datasets() / "eval.parquet"
    run_key = training_run_key(train_path, handle.version, trainer.train_config(), heldout_path=eval_path)
    keys, reported_metadata = train_or_reuse(
        context, trainer, store, run_key, trainer.max_steps, what="training run",
        unchanged="same data, base and settings", base_model_dir=handle.folder, train_path=train_path,
        eval_path=eval_path if trainer.eval_loss_every else None, **handle.load_options())
    register_checkpoints(context.instance, keys)
    out = layout.adapter_run(run_key)
    record = outcome(out)  # why the run stopped; an early-stopped run hands on only its best checkpoint
    write_json(layout.current_run(), {"run_key": run_key, "checkpoints": keys, **record})
    curve = heldout_curve_md(out)
    final = layout.checkpoint(keys[-1])
    log_path = out / "train_log.jsonl"
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(*(p for p in final.glob("adapter_*")))),
        metadata={
            **reported_metadata,
            "run_key": run_key,
            "stop_reason": record["stop_reason"],
            "resumed_from_steps": dg.MetadataValue.json(record["resumed_from_steps"]),
            **{k: record[k] for k in ("best_heldout_step", "best_heldout_loss") if k in record},
            **({"heldout_loss_curve": dg.MetadataValue.md(curve)} if curve else {}),
            "checkpoints": dg.MetadataValue.md(markdown_table(["partition", "path"],
                                                              [(k, str(layout.checkpoint(k))) for k in keys])),
            "loss_curve": dg.MetadataValue.md(plot_loss_curve(log_path)) if log_path.exists() else "no log",
            "path": dg.MetadataValue.path(str(out)),
        })
