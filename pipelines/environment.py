"""The one place where resources are chosen for an environment.

Settings come from an optional YAML file (``PRIVFT_CONFIG``, default ``privft.yaml`` in the working directory)
whose top-level sections are resource names, e.g.::

    base:    {name: /models/Llama-3.1-8B-Instruct}
    trainer: {max_steps: 2000, micro_batch_size: 8}
    store:   {root: /srv/privft/artifacts}

plus a few environment variables for the common cases (``PRIVFT_ARTIFACTS``, ``PRIVFT_ARTIFACT_URI``,
``PRIVFT_BASE_MODEL``), which override the file: ``PRIVFT_BASE_MODEL=/models/x make run`` is a quick override
of whatever ``privft.yaml`` says. Settings handed to ``build_resources`` directly (tests, embedding code) win
over the environment instead: they are the more specific choice there.
Everything can also be overridden per run in the Dagster launchpad.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# privacy by default: the CLI, the code location and the tests start with these switches
from resources.offline import OFFLINE_ENV, apply_offline_env  # noqa: F401


def settings_path() -> str:
    return os.environ.get("PRIVFT_CONFIG", "privft.yaml")


def load_settings(path: str | None = None) -> dict[str, dict[str, Any]]:
    import yaml

    from pipelines.settings_keys import SettingsError

    p = Path(path or settings_path())
    if not p.exists():
        return {}
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingsError([f"not valid YAML: {exc}"], str(p)) from None
    if not isinstance(data, dict):
        raise SettingsError([f"expected sections (base:, trainer:, ...) at the top, got {type(data).__name__}"],
                            str(p))
    return data


ENV_SETTINGS = {"PRIVFT_ARTIFACTS": ("store", "root"), "PRIVFT_ARTIFACT_URI": ("store", "uri"),
                "PRIVFT_BASE_MODEL": ("base", "name")}


def environment_settings() -> dict[str, dict[str, str]]:
    """The settings the environment sets (``ENV_SETTINGS``), by section; unset or empty variables set nothing."""
    found: dict[str, dict[str, str]] = {}
    for variable, (section, key) in ENV_SETTINGS.items():
        if os.environ.get(variable):
            found.setdefault(section, {})[key] = os.environ[variable]
    return found


def build_resources(settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from resources.dedup.resource import Deduplicator
    from resources.evaluation.evaluator import Evaluator
    from resources.export.exporter import Exporter
    from resources.model.base_model import BaseModel
    from resources.prepare.config import PrepareConfig
    from resources.provenance.inbox import ErasureInbox
    from resources.publishing.publisher import Publisher
    from resources.sources.catalog import SourceCatalog
    from resources.artifact_store import ArtifactStore
    from resources.teacher.generate import TeacherConfig
    from resources.training.launcher import Trainer
    from resources.training.preference_settings import PreferenceTrainer

    from pipelines.settings_keys import SettingsError, construct, key_problems

    from_file = settings is None
    source = settings_path() if from_file else "the settings"
    settings = load_settings() if from_file else settings
    env = environment_settings()
    classes = {"store": ArtifactStore, "catalog": SourceCatalog, "prepare": PrepareConfig, "dedup": Deduplicator,
               "base": BaseModel, "trainer": Trainer, "evaluator": Evaluator, "publisher": Publisher,
               "erasure": ErasureInbox, "teacher": TeacherConfig, "exporter": Exporter,
               "dpo": PreferenceTrainer}
    problems = key_problems(settings, classes)  # dagster resources would silently drop unknown keys
    built = {}
    if not problems:
        for name, cls in classes.items():
            given, from_env = settings.get(name) or {}, env.get(name, {})
            merged = {**given, **from_env} if from_file else {**from_env, **given}
            built[name], errors = construct(name, cls, merged)
            problems += errors
    if problems:
        raise SettingsError(problems, source)
    return built
