"""Training: the base model (built, downloaded or local) and the QLoRA adapter trained in its own process."""


import hashlib
import json
from pathlib import Path

import dagster as dg

from assets.conditions import on_changed_inputs

from resources.reports.markdown import markdown_table
from assets.partitions import CHECKPOINT_PARTITIONS
from resources.layout import Layout
from resources.model.base_model import BaseModel
from resources.model.gguf import read_origin
from resources.sources.catalog import SourceCatalog
from resources.artifact_store import ArtifactStore, publishes_artifacts
from resources.storage import content_hash, write_json
from resources.training.launcher import Trainer


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


def model_version(folder: Path) -> str:
    """Hash of config, tokenizer and weight index: cheap even for a 70B model, changes when weights do."""
    names = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix in (".json", ".jinja", ".txt")
                                                                  or p.name.endswith(".safetensors")))
    small = [p for p in names if p.stat().st_size < 50_000_000]
    h = hashlib.sha256(content_hash(*small).encode())
    for p in names:
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()[:16]


@dg.asset(automation_condition=on_changed_inputs, group_name="train", kinds={"pytorch", "safetensors"}, tags={"compute": "cpu"}, owners=["team:ml"],
          code_version="1",
          description="The base model as a local safetensors folder: built-in tiny default, a GGUF file (dequantised once), a local path or a hub id.")
@publishes_artifacts
def base_model(context: dg.AssetExecutionContext, store: ArtifactStore, base: BaseModel,
               catalog: SourceCatalog) -> dg.MaterializeResult:
    layout = Layout(store.path())
    path = base.materialise(layout.base_model(base.slug()), corpus=_tokenizer_corpus(catalog.sample_root))
    config = json.loads((path / "config.json").read_text())
    origin = read_origin(path)
    gguf = {"gguf_file": origin["file"], "gguf_sha256": origin["sha256"],
            "gguf_metadata": dg.MetadataValue.json(origin["metadata"])} if origin else {}
    return dg.MaterializeResult(
        data_version=dg.DataVersion(model_version(path)),
        metadata={
            "model": base.name,
            "architecture": ", ".join(config.get("architectures", [])),
            "hidden_size": dg.MetadataValue.int(int(config.get("hidden_size", 0))),
            "layers": dg.MetadataValue.int(int(config.get("num_hidden_layers", 0))),
            "vocab_size": dg.MetadataValue.int(int(config.get("vocab_size", 0))),
            "trust_remote_code": dg.MetadataValue.bool(base.trust_remote_code),
            "licence": base.licence_text(path),
            **gguf,
            "path": dg.MetadataValue.path(str(path)),
        })


def training_run_key(train_path: Path, base_dir: Path, config: dict) -> str:
    """Same training set + same base + same configuration -> same folder, which is what makes resume work."""
    blob = json.dumps({"train": content_hash(train_path), "base": model_version(base_dir), "config": config},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def checkpoint_key(run_key: str, step: int) -> str:
    return f"{run_key}-{step:06d}"


def checkpoint_dir(layout: Layout, key: str) -> Path:
    run_key, step = key.rsplit("-", 1)
    return layout.adapter_run(run_key) / f"checkpoint-{step}"


def latest_run(layout: Layout) -> dict:
    path = layout.root / "adapters" / "latest.json"
    return json.loads(path.read_text()) if path.exists() else {}


@dg.asset(automation_condition=on_changed_inputs, group_name="train", deps=[dg.AssetKey("training_datasets"), base_model], pool="gpu",
          kinds={"pytorch", "peft"}, tags={"compute": "gpu"}, owners=["team:ml"], code_version="1",
          description="QLoRA adapter: 4-bit NF4 base + LoRA, trained in its own process (Dagster Pipes), checkpointed.")
@publishes_artifacts
def qlora_adapter(context: dg.AssetExecutionContext, store: ArtifactStore, base: BaseModel,
                  trainer: Trainer) -> dg.MaterializeResult:
    from resources.training.checkpointing import latest_checkpoint, read_state
    from resources.training.launcher import plot_loss_curve

    layout = Layout(store.path())
    base_dir = base.local_dir(layout.base_model(base.slug()))
    train_path = layout.datasets() / "train.parquet"
    run_key = training_run_key(train_path, base_dir, trainer.train_config().to_dict())
    out = layout.adapter_run(run_key)
    final = latest_checkpoint(out)
    if final is not None and read_state(final).get("step", 0) >= trainer.max_steps:
        context.log.info(f"training run {run_key} already complete at {final.name}: same data, base and settings")
        reported_metadata = {}
    else:
        context.log.info(f"training run {run_key} -> {out}")
        invocation = trainer.run(context, base_model_dir=base_dir, train_path=train_path, output_dir=out,
                                 artifacts={"uri": store.uri, "root": str(store.path())})
        if store.uri:  # a pod on another node published the checkpoints; bring them here
            store.mirror().pull([str(out.relative_to(store.path()))])
        reported_metadata = invocation.get_materialize_result().metadata or {}

    steps = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if p.is_dir())
    keys = [checkpoint_key(run_key, s) for s in steps]
    context.instance.add_dynamic_partitions(CHECKPOINT_PARTITIONS.name, keys)
    write_json(layout.root / "adapters" / "latest.json", {"run_key": run_key, "checkpoints": keys})
    final = checkpoint_dir(layout, keys[-1])
    log_path = out / "train_log.jsonl"
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content_hash(*(p for p in final.glob("adapter_*")))),
        metadata={
            **reported_metadata,
            "run_key": run_key,
            "checkpoints": dg.MetadataValue.md(markdown_table(["partition", "path"], [(k, str(checkpoint_dir(layout, k))) for k in keys])),
            "loss_curve": dg.MetadataValue.md(plot_loss_curve(log_path)) if log_path.exists() else "no log",
            "path": dg.MetadataValue.path(str(out)),
        })
