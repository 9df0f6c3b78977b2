"""Write a Llama safetensors folder as a GGUF file for tests, with the project's own exporter.

Tests need a GGUF they made themselves (the real one is 98 MB and quantised, so its weights cannot be
compared exactly). ``resources/export/gguf_export.py`` lays a folder out as llama.cpp's ``convert_hf_to_gguf.py``
does (tensor names, q/k rotary permutation, gpt2-style tokenizer keys), which is what transformers' GGUF reader
undoes; F32 keeps every weight exact.
"""

from __future__ import annotations

import json
from pathlib import Path


def write_llama_gguf(folder: Path, out: Path, *, license: str = "apache-2.0", organization: str = "privft tests",
                     name: str = "tiny test model") -> Path:
    from resources.export.gguf_export import write_gguf
    from resources.export.gguf_tokenizer import tokenizer_metadata

    vocab_size = json.loads((folder / "config.json").read_text())["vocab_size"]
    write_gguf(folder, out, "f32", tokenizer_metadata(folder, vocab_size),
               {"name": name, "organization": organization, "license": license})
    return out
