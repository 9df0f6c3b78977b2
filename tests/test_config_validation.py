"""Broken configurations are refused before any work, each with a message naming what to change."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

from conftest import REPO, pipeline_settings
from pipelines.environment import build_resources, load_settings
from pipelines.settings_check import check_settings
from pipelines.settings_keys import SettingsError


def problems(settings: dict) -> list[str]:
    try:
        check_settings(build_resources(settings))
    except SettingsError as exc:
        return exc.problems
    return []


def pickle_only_model(folder):
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama", "max_position_embeddings": 4096}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    return str(folder)


CASES = {  # what is broken: (settings that break it, what the refusal says)
    "unknown key in a known section": (
        {"trainer": {"learnig_rate": 1e-4}},
        "trainer.learnig_rate is not a setting of trainer; did you mean 'learning_rate'?"),
    "unknown section": ({"trainr": {"max_steps": 3}}, "section 'trainr' is unknown; did you mean 'trainer'?"),
    "unknown key in a nested section": (
        {"trainer": {"kubernetes": {"image": "x", "gpuss": 1}}},
        "trainer.kubernetes.gpuss is not a setting of trainer.kubernetes; did you mean 'gpus'?"),
    "wrong type": ({"trainer": {"max_steps": "ten"}}, "trainer.max_steps: Input should be a valid integer"),
    "section that is not a mapping": ({"trainer": 5}, "trainer: expected settings as 'key: value' lines under it"),
    "missing base model": (
        {"base": {"name": "/models/does-not-exist"}},
        "base.name '/models/does-not-exist': no such folder or .gguf file"),
    "pickle-only base model": (
        {"base": {"name": "PICKLE"}}, "refusing pickle-format weight files ['pytorch_model.bin']"),
    "hub id with downloads off": (
        {"base": {"name": "meta-llama/Llama-3.1-8B"}},
        "is a hub id and downloads are off (base.allow_download: false)"),
    "eval_fraction out of (0, 1)": (
        {"prepare": {"eval_fraction": 2.0}}, "eval_fraction 2.0: must lie strictly between 0 and 1"),
    "negative learning rate": (
        {"trainer": {"learning_rate": -1e-4}}, "learning_rate is -0.0001: it must be positive"),
    "max_seq_len beyond the model": (
        {"trainer": {"max_seq_len": 100000, "micro_batch_size": 1, "max_batch_tokens": 10**6}},
        "trainer.max_seq_len is 100000: the base model 'builtin:tiny' attends to at most 2048"),
    "unknown merge dtype": (
        {"publisher": {"merge_dtype": "bf16"}}, "publisher.merge_dtype 'bf16' is unknown; did you mean 'bfloat16'?"),
    "missing forgetting benchmark": (
        {"evaluator": {"forgetting_benchmark": "/nope/mmlu"}},
        "evaluator.forgetting_benchmark: benchmark '/nope/mmlu': no such CSV file"),
    "missing sample root": (
        {"catalog": {"sample_root": "/nope/drops"}}, "catalog.sample_root '/nope/drops' is not a folder"),
    "unknown launcher": (
        {"trainer": {"launcher": "torchrunn"}}, "trainer: launcher 'torchrunn' is unknown; did you mean 'torchrun'?"),
    "activation memory that is no budget": (
        {"trainer": {"activation_memory": "lots"}}, "activation_memory is 'lots': use auto, off or a positive number"),
    "unknown GGUF export type": (
        {"exporter": {"formats": ["f16", "q8"]}}, "exporter.formats names 'q8', not a GGUF type; did you mean 'q8_0'?"),
    "GGUF export of a base it cannot write": (
        {"base": {"name": "MISTRAL"}}, "the base model is a 'mistral' model and GGUF export writes the llama"),
}


def test_a_valid_configuration_has_no_problems(tmp_path):
    assert problems(pipeline_settings(tmp_path)) == []


@pytest.mark.parametrize("case", list(CASES))
def test_each_broken_configuration_is_refused_with_what_to_change(case, tmp_path):
    broken, expected = CASES[case]
    if broken.get("base", {}).get("name") == "PICKLE":
        broken = {"base": {"name": pickle_only_model(tmp_path / "pickled")}}
    if broken.get("base", {}).get("name") == "MISTRAL":
        (tmp_path / "mistral").mkdir()
        (tmp_path / "mistral" / "config.json").write_text('{"model_type": "mistral", "max_position_embeddings": 4096}')
        (tmp_path / "mistral" / "model.safetensors").write_bytes(b"")
        broken = {"base": {"name": str(tmp_path / "mistral")}}
    settings = pipeline_settings(tmp_path)
    for section, values in broken.items():
        settings[section] = {**settings[section], **values} if isinstance(values, dict) and section in settings \
            else values
    found = problems(settings)
    assert len(found) == 1 and expected in found[0], found


def test_a_number_or_yes_no_for_a_text_setting_is_its_text(tmp_path):
    """YAML reads ``activation_memory: 8`` as a number and ``off`` as false; the setting is text."""
    (tmp_path / "privft.yaml").write_text("trainer:\n  activation_memory: off\n  lean_lora: on\n")
    from_yaml = load_settings(str(tmp_path / "privft.yaml"))["trainer"]
    settings = pipeline_settings(tmp_path, trainer={**from_yaml, "fused_loss": False})
    assert problems(settings) == []
    trainer = build_resources(settings)["trainer"]
    assert (trainer.activation_memory, trainer.lean_lora, trainer.fused_loss) == ("off", "on", "off")
    assert build_resources(pipeline_settings(tmp_path, trainer={"activation_memory": 8}))["trainer"].activation_memory \
        == "8"
    refused = problems(pipeline_settings(tmp_path, trainer={"activation_memory": True}))
    assert "activation_memory is 'on': use auto, off or a positive number of GiB" in refused[0]


def test_every_problem_is_reported_at_once(tmp_path):
    settings = pipeline_settings(tmp_path, trainer={"learning_rate": -1.0, "lora_r": 0},
                                 prepare={"eval_fraction": 0.0}, publisher={"merge_dtype": "int4"})
    assert len(problems(settings)) == 4


@pytest.mark.parametrize("text,expected", [
    ("trainer: {max_steps: 3\n", "not valid YAML"),
    ("- trainer\n- base\n", "expected sections (base:, trainer:, ...) at the top")])
def test_a_file_that_is_not_a_settings_mapping_is_refused(tmp_path, text, expected):
    path = tmp_path / "privft.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_settings(str(path))


def test_privft_run_refuses_a_broken_configuration_before_any_work(tmp_path):
    settings = pipeline_settings(tmp_path, trainer={"learnig_rate": 1e-4, "max_seq_len": 100000},
                                 prepare={"eval_fraction": 2.0}, base={"name": str(tmp_path / "no-model")})
    config = tmp_path / "privft.yaml"
    config.write_text(yaml.safe_dump(settings))
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PRIVFT_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    seconds = time.monotonic() - started
    assert run.returncode == 2, run.stdout + run.stderr
    assert "trainer.learnig_rate is not a setting of trainer; did you mean 'learning_rate'?" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "artifacts").exists() and not list(home.iterdir())  # nothing ingested, no run recorded
    print(f"privft run refused the configuration in {seconds:.2f}s (interpreter and dagster import included)")

    del settings["trainer"]["learnig_rate"]  # the key fixed: the remaining problems are all named together
    config.write_text(yaml.safe_dump(settings))
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "3 problem(s)" in run.stderr, run.stderr
    for part in ("base.name", "eval_fraction 2.0", "micro_batch_size x max_seq_len"):
        assert part in run.stderr
