"""The whole configuration checked before any work, so a wrong setting costs a second, not an ingest.

``privft run`` calls ``check_settings`` on the built resources before the first run: a missing or pickle-only
base model, ``prepare.eval_fraction: 2.0``, a negative learning rate or a ``max_seq_len`` beyond the model's
positions used to fail only after ingest (and prepare) had run. Every check here reads at most a few small
files; the deeper checks (target modules against the model's layers) stay with the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from pipelines.settings_keys import SettingsError, closest


def _base(r: dict[str, Any]) -> list[str]:
    from resources.model.gguf import GGUFNotFound, find_gguf
    from resources.model.loading import UnsafeWeightsError, check_weight_files
    from resources.model.tiny import TINY_ID

    base = r["base"]
    name = base.name
    if name == TINY_ID:
        return []
    try:
        if find_gguf(name) is not None:
            return []
    except GGUFNotFound as exc:
        return [f"base.name: {exc}"]
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            return [f"base.name {name!r}: the folder has no config.json; point it at a Hugging Face model folder "
                    "(config.json, tokenizer, *.safetensors) or a .gguf file"]
        try:
            check_weight_files(local, base.allow_pickle)
        except (UnsafeWeightsError, FileNotFoundError) as exc:
            return [f"base.name: {exc}"]
        return []
    if local.exists():
        return [f"base.name {name!r} is a file but not a .gguf model; use a model folder or a .gguf file"]
    if "/" not in name or name.startswith((".", "/", "~")) or name.count("/") > 1:
        return [f"base.name {name!r}: no such folder or .gguf file (looked from {Path.cwd()}); use builtin:tiny, "
                "builtin:smollm2-135m-instruct, a local model folder, a .gguf file or a hub id (owner/name)"]
    if not base.allow_download:
        return [f"base.name {name!r} is a hub id and downloads are off (base.allow_download: false); download it "
                "elsewhere and point base.name at its folder, or set base.allow_download: true"]
    return []


def _trainer(r: dict[str, Any]) -> list[str]:
    from resources.model.context_length import context_length

    trainer = r["trainer"]
    problems = [f"trainer: {e}" for e in trainer.problems()]
    if "dpo" in r:  # the preference stage trains with the trainer's settings and its own
        problems += r["dpo"].problems(trainer.train_config())
    limit = context_length(r["base"].name) if not _base(r) else None
    for label, value in (("trainer.max_seq_len", trainer.max_seq_len), ("prepare.max_tokens", r["prepare"].max_tokens)):
        if limit and value > limit:
            problems.append(f"{label} is {value}: the base model {r['base'].name!r} attends to at most {limit} "
                            f"positions; use {limit} or less")
    return problems


def _prepare(r: dict[str, Any]) -> list[str]:
    try:
        r["prepare"].check()
    except ValueError as exc:
        return [str(exc)]
    return []


def _catalog(r: dict[str, Any]) -> list[str]:
    from resources.schema import SOURCES
    from resources.sources.formats import FORMATS

    cat, problems = r["catalog"], []
    if not Path(cat.sample_root).is_dir():
        problems.append(f"catalog.sample_root {cat.sample_root!r} is not a folder (looked from {Path.cwd()}); it "
                        "holds <source>/<drop> folders, see data/samples/README.md")
    if Path(cat.incoming_root).exists() and not Path(cat.incoming_root).is_dir():
        problems.append(f"catalog.incoming_root {cat.incoming_root!r} is a file, not a folder")
    for source, fmt in cat.formats.items():
        if source not in SOURCES:
            problems.append(f"catalog.formats.{source} names no source{closest(source, SOURCES)}")
        elif fmt != "auto" and fmt not in FORMATS:
            problems.append(f"catalog.formats.{source} is {fmt!r}{closest(fmt, ['auto', *FORMATS])}")
    for field in ("teacher_min_score", "reject_warn_rate"):
        if not 0.0 <= getattr(cat, field) <= 1.0:
            problems.append(f"catalog.{field} is {getattr(cat, field)}: it must lie in [0, 1]")
    if cat.max_row_bytes <= 0:
        problems.append(f"catalog.max_row_bytes is {cat.max_row_bytes}: it must be positive")
    return problems


def _evaluator(r: dict[str, Any]) -> list[str]:
    return [f"evaluator.{p}" for p in r["evaluator"].settings().check()]


def _publisher(r: dict[str, Any]) -> list[str]:
    from resources.publishing.merge import DTYPES

    pub, problems = r["publisher"], []
    if pub.merge_dtype not in DTYPES:
        problems.append(f"publisher.merge_dtype {pub.merge_dtype!r} is unknown{closest(pub.merge_dtype, DTYPES)}")
    if not pub.model_name or "/" in pub.model_name or pub.model_name.startswith("."):
        problems.append(f"publisher.model_name {pub.model_name!r}: it names a registry folder, so no '/' and no "
                        "leading '.'")
    if pub.merge_tolerance <= 0:
        problems.append(f"publisher.merge_tolerance is {pub.merge_tolerance}: it must be positive")
    return problems


def _rest(r: dict[str, Any]) -> list[str]:
    from resources.schema import SOURCES

    problems = []
    root = r["store"].path()
    if root.exists() and not root.is_dir():
        problems.append(f"store.root {str(root)!r} is a file; the artifact root must be a folder")
    dedup = r["dedup"]
    problems += [f"dedup.{p}" for p in dedup.settings().check()]
    # the pipeline asks more than the engine (privft dedup allows both): a threshold of 1 keeps every near
    # duplicate, and fewer than 16 permutations estimate the similarity too coarsely to train on the result
    if dedup.threshold == 1.0:
        problems.append("dedup.threshold is 1.0: the pipeline needs it strictly between 0 and 1")
    if 2 <= dedup.num_perm < 16:
        problems.append(f"dedup.num_perm is {dedup.num_perm}: the pipeline needs at least 16")
    unknown = [s for s in dedup.source_priority if s not in SOURCES]
    if unknown:
        problems.append(f"dedup.source_priority names unknown sources {unknown}; sources: {list(SOURCES)}")
    teacher = r["teacher"]
    if teacher.enabled and not Path(teacher.seed_prompts).is_file():
        problems.append(f"teacher.seed_prompts {teacher.seed_prompts!r}: no such file (teacher.model is set)")
    return problems


def _exporter(r: dict[str, Any]) -> list[str]:
    from resources.export.gguf_export import TYPES

    formats = r["exporter"].formats
    problems = [f"exporter.formats names {t!r}, not a GGUF type{closest(str(t), TYPES)}"
                for t in formats if t not in TYPES]
    config = Path(r["base"].name).expanduser() / "config.json"
    if formats and config.is_file():  # found now, not after training: the export comes last
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        if model_type != "llama":
            problems.append(f"exporter.formats {formats}: the base model is a {model_type!r} model and GGUF export "
                            "writes the llama architecture only; set exporter.formats: [] to publish without it")
    return problems


CHECKS: tuple[Callable[[dict[str, Any]], list[str]], ...] = (_base, _trainer, _prepare, _catalog, _evaluator,
                                                              _publisher, _exporter, _rest)


def settings_problems(resources: dict[str, Any]) -> list[str]:
    return [p for check in CHECKS for p in check(resources)]


def check_settings(resources: dict[str, Any], source: str = "the settings") -> None:
    """Raise ``SettingsError`` naming every problem of the configured resources at once."""
    problems = settings_problems(resources)
    if problems:
        raise SettingsError(problems, source)
