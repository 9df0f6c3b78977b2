"""Skip recomputation when a report's inputs did not change.

A report folder is reused when a sidecar ``<folder>.inputs.json`` records the same input fingerprint (content
hashes of the checkpoint, held-out and training data, the base model version and the evaluator settings).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from resources.storage import write_json


def fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _sidecar(folder: Path) -> Path:
    return folder.with_name(folder.name + ".inputs.json")


def is_fresh(folder: Path, inputs: dict[str, Any]) -> bool:
    sidecar = _sidecar(folder)
    return (folder / "report.json").exists() and sidecar.exists() and \
        json.loads(sidecar.read_text()).get("fingerprint") == fingerprint(inputs)


def record(folder: Path, inputs: dict[str, Any]) -> None:
    write_json(_sidecar(folder), {"fingerprint": fingerprint(inputs), "inputs": inputs})
