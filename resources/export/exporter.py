"""Export a published registry version to GGUF for llama.cpp and Ollama: the engine the asset and CLI call.

One folder per (version, type), beside the registry rather than inside it (versions are immutable):

    <artifact root>/exports/<model>/<version>/<type>/
        <model>-<version>-<type>.gguf   weights, tokenizer, chat template, stop tokens, licence, provenance
        Modelfile                       ``ollama create <name> -f Modelfile``
        export_verification.json        the GGUF read back by transformers vs the merged model, with tolerances
        LICENSE.txt, MODEL_CARD.md      copied from the version

The folder is written whole into a temporary sibling and renamed into place only after verification passed, so a
failed export leaves the previous one (or nothing) and never an unverified file. A verified export of the same
version, type and engine is reused: a version's content never changes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import dagster as dg

ENGINE = "gguf-export-2"  # bump when the file layout or the checks change, so old exports are rebuilt
VERIFICATION = "export_verification.json"


class ExportError(RuntimeError):
    pass


@dataclass
class ExportResult:
    folder: Path
    verification: dict[str, Any]
    reused: bool

    @property
    def gguf(self) -> Path:
        return self.folder / self.verification["gguf"]


def export_dir(artifact_root: Path | str, model_name: str, version: str, tensor_type: str) -> Path:
    return Path(artifact_root) / "exports" / model_name / version / tensor_type


def _licence_id(manifest: dict[str, Any]) -> Optional[str]:
    """An SPDX-like identifier for ``general.license``: the base GGUF's own, else the licence text's first word."""
    base = manifest.get("base_model") or {}
    meta = (base.get("origin") or {}).get("metadata") or {}
    if meta.get("license"):
        return str(meta["license"])
    first = str(base.get("licence") or "").split(" ")[0]
    return first if first and first.lower() not in ("see", "unknown") else None


def _general(manifest: dict[str, Any], model_name: str, version: str, tensor_type: str):
    base = manifest.get("base_model") or {}
    meta = (base.get("origin") or {}).get("metadata") or {}
    general = {"name": f"{model_name} {version}", "version": version, "finetune": model_name,
               "description": f"{model_name} {version}, fine-tuned with privft from {base.get('name')}; "
                              f"exported as {tensor_type}"}
    licence = _licence_id(manifest)
    if licence:
        general["license"] = licence
    base_model = {"name": str(meta.get("name") or base.get("name") or "unknown")}
    if meta.get("organization"):
        base_model["organization"] = str(meta["organization"])
    return general, [base_model]


def export_version(version_dir: Path | str, target: Path | str, tensor_type: str, *, model_name: str,
                   version: str, max_new_tokens: int = 16) -> ExportResult:
    """Export the registry version in ``version_dir`` (merged/, manifest.json) as ``tensor_type`` into ``target``."""
    from resources.export.chat_parts import ChatTemplateUnsupported, chat_parts, tokenizer_renderer
    from resources.export.export_check import verify_export
    from resources.export.gguf_export import TYPES, write_gguf
    from resources.export.gguf_tokenizer import tokenizer_metadata
    from resources.export.modelfile import modelfile
    from resources.model.gguf import file_sha256
    from resources.model.loading import load_tokenizer
    from resources.storage import atomic_dir

    version_dir, target = Path(version_dir), Path(target)
    merged = version_dir / "merged"
    if tensor_type not in TYPES:
        raise ExportError(f"GGUF type {tensor_type!r} is not one of {list(TYPES)}")
    if not (merged / "config.json").is_file() or not (version_dir / "manifest.json").is_file():
        raise ExportError(f"{version_dir}: not a published version (needs merged/ and manifest.json)")
    done = target / VERIFICATION
    if done.is_file():
        previous = json.loads(done.read_text(encoding="utf-8"))
        if previous.get("verified") and previous.get("engine") == ENGINE and previous.get("version") == version:
            return ExportResult(target, previous, reused=True)

    manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
    config = json.loads((merged / "config.json").read_text(encoding="utf-8"))
    tokenizer = load_tokenizer(merged)
    try:
        parts, no_template = chat_parts(tokenizer_renderer(tokenizer)), ""
    except ChatTemplateUnsupported as exc:  # the GGUF still carries the Jinja template for llama.cpp and Ollama
        parts, no_template = None, f"the chat template is not per-role pieces ({exc})"
    end_of_turn = parts.end_of_turn(tokenizer.all_special_tokens) if parts else None
    meta = tokenizer_metadata(merged, config["vocab_size"], end_of_turn)
    general, base_models = _general(manifest, model_name, version, tensor_type)
    name = f"{model_name}-{version}-{tensor_type}.gguf"
    licence_file = merged / "LICENSE.txt"
    licence = licence_file.read_text(encoding="utf-8").strip() if licence_file.is_file() \
        else str((manifest.get("base_model") or {}).get("licence") or "see the model card")

    with atomic_dir(target) as tmp:
        facts = write_gguf(merged, tmp / name, tensor_type, meta, general, base_models)
        stops = [t for t in (end_of_turn, tokenizer.eos_token) if t]
        (tmp / "Modelfile").write_text(modelfile(name, parts, stops, licence,
                                                 f"{model_name} {version} ({tensor_type}), exported by privft",
                                                 no_template), encoding="utf-8")
        for extra in ("LICENSE.txt", "MODEL_CARD.md"):
            source = merged / extra if (merged / extra).is_file() else version_dir / extra
            if source.is_file():
                shutil.copyfile(source, tmp / extra)
        check = verify_export(merged, tmp / name, tensor_type, facts.tensor_types, max_new_tokens=max_new_tokens)
        files = {f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)} for f in sorted(tmp.iterdir())}
        verification = {**check, "engine": ENGINE, "model": model_name, "version": version, "gguf": name,
                        "stop_tokens": list(dict.fromkeys(stops)), "modelfile_template": no_template or "translated",
                        "metadata": {**general, "base_model": base_models},
                        "files": files}
        (tmp / VERIFICATION).write_text(json.dumps(verification, indent=2, ensure_ascii=False, default=str) + "\n",
                                        encoding="utf-8")
        if not check["verified"]:
            raise ExportError(f"{model_name} {version} as {tensor_type}: the GGUF read back is not the merged model: "
                              + "; ".join(check["failures"]) + f" (numbers: {json.dumps(check['behaviour'])}); "
                              "nothing was written")
    return ExportResult(target, verification, reused=False)


class Exporter(dg.ConfigurableResource):
    """GGUF exports of each published version (llama.cpp, Ollama)."""

    formats: list[str] = ["f16"]  # GGUF types, any of f32, f16, bf16, q8_0; [] turns the model_export asset off
    max_new_tokens: int = 16      # greedy tokens per verification prompt

    def enabled(self) -> bool:
        return bool(self.formats)

    def export(self, artifact_root: Path | str, registry_root: Path | str, model_name: str, version: str,
               tensor_type: str, out: Path | str | None = None) -> ExportResult:
        """Export ``version`` of ``model_name`` in the registry at ``registry_root`` to its exports folder under
        ``artifact_root``, or into ``out/<model>-<version>-<type>/`` when given."""
        from resources.publishing.registry import Registry, RegistryError

        registry = Registry(registry_root, model_name)
        try:
            version_dir = registry.path(version)
        except RegistryError as exc:
            raise ExportError(str(exc)) from exc
        if not version_dir.is_dir():
            raise ExportError(f"{model_name}: no version {version!r} under {registry.dir}; published: "
                              f"{registry.versions() or 'none'}")
        target = Path(out) / f"{model_name}-{version}-{tensor_type}" if out is not None \
            else export_dir(artifact_root, model_name, version, tensor_type)
        return export_version(version_dir, target, tensor_type, model_name=model_name, version=version,
                              max_new_tokens=self.max_new_tokens)
