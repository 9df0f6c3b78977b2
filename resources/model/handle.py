"""The base model as every later stage sees it: one folder, one version, and how far to trust it.

The ``base_model`` asset resolves the configured model once (built, dequantised, downloaded or a local folder)
and writes this handle beside it (``Layout.base_model_handle``). Trainer, evaluator and publisher read the
handle instead of re-deriving the folder from the settings and hashing it again, and they load the model with
the handle's ``trust_remote_code`` and ``allow_pickle``, so what the operator allowed for this model is what
every stage does. Plain Python (no dagster): the training process reads it too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BaseModelHandle:
    path: str  # local folder of config, tokenizer and weights
    version: str  # folder_version(path): changes when the weights, config or tokenizer do
    trust_remote_code: bool = False
    allow_pickle: bool = False
    name: str = ""  # as configured (base.name): the model card names it
    revision: str | None = None

    @property
    def folder(self) -> Path:
        return Path(self.path)

    def load_options(self) -> dict[str, bool]:
        """The keyword arguments of ``load_causal_lm`` (and, less ``allow_pickle``, ``load_tokenizer``)."""
        return {"trust_remote_code": self.trust_remote_code, "allow_pickle": self.allow_pickle}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BaseModelHandle":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, file: Path | str) -> None:
        from resources.storage import write_json

        write_json(file, self.to_dict())

    @classmethod
    def read(cls, file: Path | str) -> "BaseModelHandle":
        file = Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no base model handle; materialise the base_model asset first "
                                    "(it resolves the configured model and writes this file)")
        return cls.from_dict(json.loads(file.read_text(encoding="utf-8")))


def folder_version(folder: Path | str) -> str:
    """Hash of config, tokenizer and weight index: cheap even for a 70B model, changes when weights do."""
    from resources.storage import content_hash

    folder = Path(folder)
    names = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix in (".json", ".jinja", ".txt")
                                                                  or p.name.endswith(".safetensors")))
    small = [p for p in names if p.stat().st_size < 50_000_000]
    h = hashlib.sha256(content_hash(*small).encode())
    for p in names:
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()[:16]
