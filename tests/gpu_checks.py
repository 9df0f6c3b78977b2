"""GPU checks that CI skips and the device machine runs as scripts (``python tests/test_..._cuda.py``)."""

from __future__ import annotations

import pytest
import torch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def run_on_tiny_model(label: str, check) -> None:
    """``check(model_dir)`` on a freshly built tiny model, its result printed under ``label``."""
    import tempfile
    from pathlib import Path

    from resources.model.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        print(f"{label}:", check(build_tiny_model(Path(tmp) / "model")))
