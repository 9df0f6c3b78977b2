"""SmolLM2-135M-Instruct exported to GGUF f16: a real model with tied embeddings, ChatML and a default system
prompt reads back as itself (about 60 s on the 2-core machine; q8_0 and bf16: benchmarks/gguf_export.py)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from resources.export.exporter import export_version


@pytest.mark.slow
def test_smollm2_exports_to_an_f16_gguf_and_modelfile_that_match_it(smollm2_dir, tmp_path):
    from gguf import GGUFReader

    from resources.model.gguf import read_origin

    version = tmp_path / "registry" / "smollm2" / "v-000000000135"
    shutil.copytree(smollm2_dir, version / "merged")
    (version / "manifest.json").write_text(json.dumps({"base_model": {
        "name": "builtin:smollm2-135m-instruct", "licence": "apache-2.0", "origin": read_origin(smollm2_dir)}}))
    result = export_version(version, tmp_path / "out", "f16", model_name="smollm2", version=version.name)

    v = result.verification
    assert v["verified"], v["failures"]
    assert v["weights"]["max_abs_diff_to_rounded_merged"] == 0.0 and v["weights"]["tensors"] == 272
    assert v["behaviour"]["kl_mean"] < 1e-4 and v["behaviour"]["top1_agreement"] == 1.0
    assert v["behaviour"]["greedy_identical"] == 3  # f16 answers exactly as the float32 model
    assert v["stop_tokens"] == ["<|im_end|>"]

    reader = GGUFReader(str(result.gguf))
    field = lambda key: reader.get_field(key).contents()  # noqa: E731
    assert "output.weight" not in {t.name for t in reader.tensors}  # tied: llama.cpp reuses token_embd
    assert field("general.license") == "apache-2.0" and field("general.base_model.0.organization") == "HuggingFaceTB"
    assert field("tokenizer.ggml.eot_token_id") == field("tokenizer.ggml.eos_token_id") == 2
    assert field("llama.context_length") == 8192 and field("llama.rope.freq_base") == 100000.0

    modelfile = (result.folder / "Modelfile").read_text()
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in modelfile
    assert re.findall(r'^PARAMETER stop "(.*)"$', modelfile, re.M) == ["<|im_end|>"]
    assert '{{ "<|im_start|>user\\n" }}{{ .Content }}{{ "<|im_end|>\\n" }}' in modelfile
