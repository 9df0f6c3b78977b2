"""A GGUF file as the base model: a tiny one this test writes, and the real SmolLM2 the registry package ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.model.base_model import BaseModel
from resources.model.gguf import ORIGIN_FILE, GGUFNotFound, find_gguf
from tests.gguf_files import write_llama_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory) -> Path:
    return write_llama_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf", license="mit",
                            organization="Example Org")


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def test_a_gguf_file_dequantises_to_the_same_weights_tokenizer_and_logits(tiny_gguf, tiny_model_dir, tmp_path):
    import torch

    from resources.model.loading import load_causal_lm, load_tokenizer

    folder = BaseModel(name=str(tiny_gguf)).materialise(tmp_path / "base")
    original, loaded = _weights(tiny_model_dir), _weights(folder)
    assert set(loaded) == set(original)
    for name, tensor in original.items():  # q/k are permuted on the way in and back: a wrong inverse shows here
        assert torch.equal(loaded[name].float(), tensor.float()), name

    text = "Hello, where is my order A-1234?"
    assert load_tokenizer(folder)(text)["input_ids"] == load_tokenizer(tiny_model_dir)(text)["input_ids"]
    ids = torch.tensor([load_tokenizer(tiny_model_dir)(text)["input_ids"]])
    a = load_causal_lm(tiny_model_dir, dtype=torch.float32, device="cpu")(input_ids=ids).logits
    b = load_causal_lm(folder, dtype=torch.float32, device="cpu")(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5)

    origin = json.loads((folder / ORIGIN_FILE).read_text())
    assert origin["metadata"]["license"] == "mit" and origin["metadata"]["organization"] == "Example Org"
    assert len(origin["sha256"]) == 64
    assert not (folder / "config.json").read_text().count("quantization_config")
    assert BaseModel(name=str(tiny_gguf)).licence_text(folder).startswith("mit (Example Org")


def test_a_folder_holding_one_gguf_is_a_gguf_base_and_is_dequantised_once(tiny_gguf, tmp_path):
    holder = tmp_path / "holder"
    holder.mkdir()
    (holder / "model.gguf").write_bytes(tiny_gguf.read_bytes())
    base = BaseModel(name=str(holder))
    assert base.is_gguf()
    folder = base.materialise(tmp_path / "dest")
    assert folder == tmp_path / "dest"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert base.materialise(tmp_path / "dest") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # not dequantised again

    (holder / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(GGUFNotFound, match="2 GGUF files"):
        find_gguf(str(holder))


def test_a_missing_gguf_file_is_a_clear_error(tmp_path):
    from resources.model.base_model import BaseModelNotFound

    with pytest.raises(BaseModelNotFound, match="no such local folder"):
        BaseModel(name=str(tmp_path / "nope.gguf")).materialise(tmp_path / "dest")


@pytest.mark.slow
def test_the_real_smollm2_gguf_gives_a_llama_that_answers_in_english(smollm2_dir):
    import torch

    from resources.model.loading import load_causal_lm, load_tokenizer

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (30, 576, 49152)
    origin = json.loads((smollm2_dir / ORIGIN_FILE).read_text())
    assert origin["metadata"]["license"] == "apache-2.0"
    assert origin["metadata"]["organization"] == "HuggingFaceTB"
    tok = load_tokenizer(smollm2_dir)
    assert "<|im_start|>" in tok.chat_template
    model = load_causal_lm(smollm2_dir, dtype=torch.float32, device="cpu")
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer
