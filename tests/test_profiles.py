"""The shipped profiles (profiles/*.yaml) are valid settings: every section and field exists, the training
configuration passes validation, and the base model they name can be found on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.environment import build_resources, load_settings

PROFILES = sorted((Path(__file__).resolve().parents[1] / "profiles").glob("*.yaml"))


def test_there_are_cpu_and_gpu_profiles_for_the_real_model():
    assert {p.stem for p in PROFILES} >= {"smollm2-cpu", "smollm2-gpu"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_a_profile_builds_every_resource_and_its_training_config_is_valid(profile):
    from resources.model.gguf import find_gguf

    resources = build_resources(load_settings(str(profile)))
    assert resources["trainer"].train_config().validate() == []
    assert find_gguf(resources["base"].name) is not None  # the GGUF that make install brings
    assert resources["store"].root.startswith("artifacts-real/")
