"""Environment variables override privft.yaml (the README's quick overrides); settings given in code win over both."""

from __future__ import annotations

import pytest

from pipelines.environment import build_resources


@pytest.fixture()
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "privft.yaml"
    path.write_text(f"base: {{name: builtin:tiny, license: from-the-file}}\nstore: {{root: {tmp_path / 'filed'}}}\n")
    monkeypatch.setenv("PRIVFT_CONFIG", str(path))
    for variable in ("PRIVFT_BASE_MODEL", "PRIVFT_ARTIFACTS", "PRIVFT_ARTIFACT_URI"):
        monkeypatch.delenv(variable, raising=False)
    return path


def test_the_file_applies_without_environment_variables(config_file, tmp_path):
    built = build_resources()
    assert built["base"].name == "builtin:tiny" and built["store"].root == str(tmp_path / "filed")


def test_environment_variables_override_the_file(config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVFT_BASE_MODEL", "/models/other")
    monkeypatch.setenv("PRIVFT_ARTIFACTS", str(tmp_path / "from-env"))
    built = build_resources()
    assert built["base"].name == "/models/other" and built["store"].root == str(tmp_path / "from-env")
    assert built["base"].license == "from-the-file"  # only the named setting moves; the rest of the section stays


def test_an_empty_variable_overrides_nothing(config_file, monkeypatch):
    monkeypatch.setenv("PRIVFT_BASE_MODEL", "")
    assert build_resources()["base"].name == "builtin:tiny"


def test_settings_given_in_code_win_over_the_environment(config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVFT_ARTIFACTS", str(tmp_path / "from-env"))
    monkeypatch.setenv("PRIVFT_BASE_MODEL", "/models/other")
    built = build_resources({"store": {"root": str(tmp_path / "given")}})
    assert built["store"].root == str(tmp_path / "given")
    assert built["base"].name == "/models/other"  # a section the code leaves out still takes the environment's
