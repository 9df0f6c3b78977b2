"""The one place where resources are chosen for an environment.

Settings come from an optional YAML file (``PRIVFT_CONFIG``, default ``privft.yaml`` in the working directory)
whose top-level sections are resource names, e.g.::

    base:    {name: /models/Llama-3.1-8B-Instruct}
    trainer: {max_steps: 2000, micro_batch_size: 8}
    store:   {root: /srv/privft/artifacts}

plus a few environment variables for the common cases (``PRIVFT_ARTIFACTS``, ``PRIVFT_ARTIFACT_URI``,
``PRIVFT_BASE_MODEL``).
Everything can also be overridden per run in the Dagster launchpad.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Privacy by default: Hugging Face libraries never reach the hub or send telemetry unless a configuration
# explicitly asks for a download (BaseModel.allow_download lifts HF_HUB_OFFLINE for that one call).
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_env() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def load_settings(path: str | None = None) -> dict[str, dict[str, Any]]:
    import yaml

    path = path or os.environ.get("PRIVFT_CONFIG", "privft.yaml")
    p = Path(path)
    if not p.exists():
        return {}
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of resource name -> settings")
    return data


def build_resources(settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from resources.dedup.engine import Deduplicator
    from resources.evaluation.evaluator import Evaluator
    from resources.model.base_model import BaseModel
    from resources.prepare.config import PrepareConfig
    from resources.provenance.inbox import ErasureInbox
    from resources.publishing.publisher import Publisher
    from resources.sources.catalog import SourceCatalog
    from resources.artifact_store import ArtifactStore
    from resources.teacher.generate import TeacherConfig
    from resources.training.launcher import Trainer

    settings = load_settings() if settings is None else settings
    env_defaults = {
        "store": {"root": os.environ.get("PRIVFT_ARTIFACTS", "artifacts"),
                  "uri": os.environ.get("PRIVFT_ARTIFACT_URI", "")},
        "base": {"name": os.environ["PRIVFT_BASE_MODEL"]} if os.environ.get("PRIVFT_BASE_MODEL") else {},
    }
    classes = {"store": ArtifactStore, "catalog": SourceCatalog, "prepare": PrepareConfig, "dedup": Deduplicator,
               "base": BaseModel, "trainer": Trainer, "evaluator": Evaluator, "publisher": Publisher,
               "erasure": ErasureInbox, "teacher": TeacherConfig}
    unknown = set(settings) - set(classes)
    if unknown:
        raise ValueError(f"unknown settings sections {sorted(unknown)}; expected some of {sorted(classes)}")
    return {name: cls(**{**env_defaults.get(name, {}), **settings.get(name, {})}) for name, cls in classes.items()}
