"""The rejected side of a correction: what the model answered before an expert corrected it.

SFT trains on the correction only, so ``examples.parquet`` never holds the model's answer; preference training
needs it as the rejected response. It travels in a sidecar beside the drop's examples, one row per kept
correction, written in the same atomic directory so the two always describe the same ingest. A model output
that cannot be used (missing, not text, holding a NUL or a lone surrogate) is stored empty with the reason in
``problem``: the correction still trains SFT, and the preference stage rejects the pair with that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.sources.limits import bad_characters

MODEL_OUTPUTS = "model_outputs.parquet"
COLUMNS = ("id", "model_output", "problem")
SOURCE = "corrected_outputs"


def model_output(record: dict[str, Any]) -> tuple[str, str]:
    """(model output text, "") or ("", why it cannot be the rejected side)."""
    value = record.get("model_output")
    if value is None:
        return "", "missing field: model_output"
    if not isinstance(value, str):
        return "", f"wrong type: model_output is {type(value).__name__}, not a string"
    if why := bad_characters(value):
        return "", f"{why} (model_output)"
    return value, ""


def output_row(rid: str, record: dict[str, Any]) -> dict[str, str]:
    text, problem = model_output(record)
    return {"id": rid, "model_output": text, "problem": problem}


def read_model_outputs(drop_dir: Path | str):
    """The sidecar of one ingested drop as a frame (empty with COLUMNS when the drop predates it)."""
    import pandas as pd

    path = Path(drop_dir) / MODEL_OUTPUTS
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    return pd.read_parquet(path)
