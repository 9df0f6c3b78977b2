"""Nothing untrusted runs: pickle weights are refused everywhere a model or adapter is loaded, and a model's own
Python code (``auto_map`` + ``trust_remote_code``) runs only when the configuration says so.

A pickle file (``pytorch_model.bin``) executes arbitrary code when unpickled; these tests plant one whose
unpickling would write a marker file, so a refusal is proven by the marker's absence, not only by the error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resources.model.base_model import BaseModel
from resources.model.loading import UnsafeWeightsError, check_weight_files, load_adapter, load_causal_lm

REPO = Path(__file__).resolve().parents[1]


class _Trap:
    """Unpickling this calls ``open(marker, 'w')``: what a malicious weight file would do instead."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_pickle(folder: Path, name: str, marker: Path) -> Path:
    import torch

    path = folder / name
    torch.save({"weight": torch.zeros(2), "payload": _Trap(marker)}, path)
    return path


@pytest.fixture
def pickled_model(tiny_model_dir, tmp_path) -> tuple[Path, Path]:
    """A copy of the tiny model whose safetensors weights are replaced by a booby-trapped pytorch_model.bin."""
    folder = tmp_path / "pickled-model"
    shutil.copytree(tiny_model_dir, folder)
    for f in folder.glob("*.safetensors"):
        f.unlink()
    marker = tmp_path / "model-pickle-ran"
    plant_pickle(folder, "pytorch_model.bin", marker)
    return folder, marker


@pytest.fixture
def pickled_adapter(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "pickled-adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
                                                            "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"}))
    marker = tmp_path / "adapter-pickle-ran"
    plant_pickle(folder, "adapter_model.bin", marker)
    return folder, marker


def assert_clear_refusal(exc: UnsafeWeightsError, folder: Path, filename: str) -> None:
    msg = str(exc)
    assert str(folder) in msg and filename in msg, f"the error must name the folder and the file: {msg}"
    assert "allow_pickle" in msg and "safetensors" in msg, f"the error must say how to proceed: {msg}"


def test_the_trap_is_live(tmp_path):
    """Control: unpickling the planted file really runs its payload, so the marker checks below can fail."""
    import torch

    marker = tmp_path / "ran"
    path = plant_pickle(tmp_path, "pytorch_model.bin", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_base_model_folder_with_pickle_weights_is_refused(pickled_model):
    folder, marker = pickled_model
    with pytest.raises(UnsafeWeightsError) as err:
        BaseModel(name=str(folder)).materialise(folder.parent / "unused")
    assert_clear_refusal(err.value, folder, "pytorch_model.bin")
    assert not marker.exists()


def test_loading_pickle_model_is_refused_before_anything_is_unpickled(pickled_model):
    folder, marker = pickled_model
    with pytest.raises(UnsafeWeightsError) as err:
        load_causal_lm(folder, device="cpu")
    assert_clear_refusal(err.value, folder, "pytorch_model.bin")
    assert not marker.exists()


def test_adapter_folder_with_pickle_weights_is_refused(pickled_adapter):
    folder, marker = pickled_adapter
    with pytest.raises(UnsafeWeightsError) as err:
        load_adapter(object(), folder)  # refused before the model is even looked at
    assert_clear_refusal(err.value, folder, "adapter_model.bin")
    assert not marker.exists()


def test_merging_a_pickle_adapter_is_refused(tiny_model_dir, pickled_adapter, tmp_path):
    from resources.publishing.merge import merge_adapter

    folder, marker = pickled_adapter
    out = tmp_path / "merged"
    with pytest.raises(UnsafeWeightsError) as err:
        merge_adapter(tiny_model_dir, folder, out)
    assert "adapter_model.bin" in str(err.value) and "allow_pickle" in str(err.value)
    assert not marker.exists() and not out.exists()


def test_every_pickle_suffix_is_refused_and_allow_pickle_lifts_it(tmp_path):
    for suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"):
        folder = tmp_path / suffix.strip(".")
        folder.mkdir()
        (folder / f"model{suffix}").write_bytes(b"\x80\x04N.")
        with pytest.raises(UnsafeWeightsError, match=f"model{suffix}"):
            check_weight_files(folder)
        check_weight_files(folder, allow_pickle=True)  # the explicit, per-model opt-in


def test_trust_remote_code_is_off_unless_configured():
    from pipelines.environment import build_resources

    assert BaseModel().trust_remote_code is False and BaseModel().allow_pickle is False
    assert build_resources({})["base"].trust_remote_code is False
    assert build_resources({"base": {"trust_remote_code": True}})["base"].trust_remote_code is True


def test_loaders_pass_trust_remote_code_only_when_asked(tiny_model_dir, monkeypatch):
    import transformers

    from resources.model.loading import load_tokenizer

    seen: list[tuple[str, object]] = []
    real_model, real_tok = transformers.AutoModelForCausalLM.from_pretrained, transformers.AutoTokenizer.from_pretrained

    def model_spy(*args, **kwargs):
        seen.append(("model", kwargs.get("trust_remote_code")))
        return real_model(*args, **kwargs)

    def tok_spy(*args, **kwargs):
        seen.append(("tokenizer", kwargs.get("trust_remote_code")))
        return real_tok(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model_spy)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tok_spy)
    load_causal_lm(tiny_model_dir, device="cpu")
    load_tokenizer(tiny_model_dir)
    assert seen == [("model", False), ("tokenizer", False)]
    seen.clear()
    load_causal_lm(tiny_model_dir, device="cpu", trust_remote_code=True)
    load_tokenizer(tiny_model_dir, trust_remote_code=True)
    assert seen == [("model", True), ("tokenizer", True)]


REMOTE_CODE = '''
from pathlib import Path
Path({marker!r}).write_text("the model's own code ran")
from transformers import LlamaForCausalLM
class EvilForCausalLM(LlamaForCausalLM):
    pass
'''

LOAD_SCRIPT = """
import os, sys
sys.path.insert(0, {repo!r})
from resources.model.loading import load_causal_lm

def attempt(trust):
    try:
        load_causal_lm({folder!r}, device="cpu", trust_remote_code=trust)
        return "loaded"
    except Exception as exc:
        return f"refused ({{type(exc).__name__}}: {{exc}})"

print("default:", attempt(False), "| code ran:", os.path.exists({marker!r}))
print("trusted:", attempt(True), "| code ran:", os.path.exists({marker!r}))
"""


@pytest.mark.slow
def test_model_code_in_the_folder_runs_only_with_trust_remote_code(tiny_model_dir, tmp_path):
    """A model folder that ships its own modeling code (auto_map): loading it must not import that code."""
    folder = tmp_path / "model-with-code"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "modeling_evil.py").write_text(REMOTE_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))

    # A child process with its own HF_HOME: remote code is copied into HF_MODULES_CACHE and imported from there,
    # and must not run in this test process or land in the user's cache.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    script = LOAD_SCRIPT.format(repo=str(REPO), folder=str(folder), marker=str(marker))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    default, trusted = out.stdout.strip().splitlines()[-2:]
    # Off by default: the built-in Llama class is used and the folder's code never runs.
    assert default == "default: loaded | code ran: False", out.stdout
    # Control: with trust_remote_code the folder's code does run, so the check above can fail.
    assert trusted.endswith("code ran: True"), out.stdout
