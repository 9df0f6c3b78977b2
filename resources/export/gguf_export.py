"""A Llama-architecture safetensors folder written as one GGUF file for llama.cpp and Ollama.

The layout follows llama.cpp's ``convert_hf_to_gguf.py`` (which is also what transformers' GGUF reader undoes):
tensor names ``blk.N.attn_q`` ..., q/k rows permuted from Hugging Face's rotary layout to llama.cpp's
interleaved one, 1-D tensors (norms) kept in F32, 2-D weights in the chosen type; under Q8_0 a weight whose rows
are not whole 32-value blocks falls back to F16, as the converter does. A tied output layer is not written
(llama.cpp then reads ``token_embd``). Tensors are streamed: one is in memory at a time, so an 8B model needs
the memory of its largest tensor, not of the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from resources.export.gguf_tokenizer import TokenizerMeta, write_tokenizer

TYPES = ("f32", "f16", "bf16", "q8_0")
_LAYER = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight"}


class ExportUnsupported(ValueError):
    pass


@dataclass
class GGUFFacts:
    """What was written: the file, and per Hugging Face tensor name the GGUF type it was stored in."""
    path: Path
    tensor_types: dict[str, str] = field(default_factory=dict)


def gguf_name(hf: str) -> str:
    if hf in _TOP:
        return _TOP[hf]
    parts = hf.split(".")
    module = ".".join(parts[3:-1])
    if len(parts) < 5 or parts[:2] != ["model", "layers"] or module not in _LAYER or parts[-1] != "weight":
        raise ExportUnsupported(f"tensor {hf!r} has no place in a llama GGUF (biases, extra modules and other "
                                "architectures are not exported)")
    return f"blk.{parts[2]}.{_LAYER[module]}.weight"


def permute_rotary(w, n_head: int):
    """Hugging Face's q/k rows (halves rotated together) in llama.cpp's order (pairs rotated together)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_config(folder: Path) -> dict[str, Any]:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "llama":
        raise ExportUnsupported(f"{folder / 'config.json'}: model_type {config.get('model_type')!r}; GGUF export "
                                "supports the llama architecture (Llama, SmolLM, the built-in tiny model)")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise ExportUnsupported(f"{folder / 'config.json'}: rope scaling {rope!r} is not exported (plain RoPE only)")
    return config


def _storage_type(tensor_type: str, shape: tuple[int, ...]) -> str:
    if len(shape) == 1 or tensor_type == "f32":
        return "f32"
    if tensor_type == "q8_0" and shape[-1] % 32:
        return "f16"
    return tensor_type


def encode(array, storage: str):
    """``array`` (float32 numpy) as the bytes/values GGUF stores for ``storage``; also used to predict the
    exact weights a reader must get back (export_check.py)."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quantize

    if storage == "f32":
        return np.ascontiguousarray(array, dtype=np.float32)
    if storage == "f16":
        return np.ascontiguousarray(array.astype(np.float16))
    return quantize(np.ascontiguousarray(array, dtype=np.float32), Q.BF16 if storage == "bf16" else Q.Q8_0)


def _tensors(folder: Path, config: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(HF name, float32 numpy array in llama.cpp's row order), one at a time, in a stable order."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ExportUnsupported(f"{folder}: no *.safetensors weights")
    tied = config.get("tie_word_embeddings", False)
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in sorted(st.keys()):
                if tied and name == "lm_head.weight":
                    continue
                w = st.get_tensor(name).float().numpy()
                if name.endswith("q_proj.weight"):
                    w = permute_rotary(w, config["num_attention_heads"])
                elif name.endswith("k_proj.weight"):
                    w = permute_rotary(w, config["num_key_value_heads"])
                yield name, w


def _shapes(folder: Path, config: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    from safetensors import safe_open

    tied, out = config.get("tie_word_embeddings", False), []
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            out += [(n, tuple(st.get_slice(n).get_shape())) for n in sorted(st.keys())
                    if not (tied and n == "lm_head.weight")]
    return out


def write_gguf(folder: Path | str, out: Path | str, tensor_type: str, tokenizer: TokenizerMeta,
               general: dict[str, str] | None = None, base_models: list[dict[str, str]] | None = None) -> GGUFFacts:
    """Write ``folder`` (config.json + safetensors) as a GGUF at ``out`` with 2-D weights in ``tensor_type``;
    ``general`` holds GGUF ``general.*`` strings (name, license, version ...), ``base_models`` name/organization
    of what it was fine-tuned from (``general.base_model.N.*``)."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quant_shape_to_byte_shape

    if tensor_type not in TYPES:
        raise ExportUnsupported(f"GGUF type {tensor_type!r}; choose one of {list(TYPES)}")
    folder = Path(folder)
    config = read_config(folder)
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    rope = config.get("rope_parameters") or {}
    w = gguf.GGUFWriter(str(out), "llama")
    for key, value in (general or {}).items():  # name, license, organization, version, base model ...
        w.add_string(f"general.{key}", str(value))
    if base_models:
        w.add_base_model_count(len(base_models))
        for i, base in enumerate(base_models):
            for key, value in base.items():
                getattr(w, f"add_base_model_{key}")(i, str(value))
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    w.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // config["num_attention_heads"]:  # llama.cpp assumes hidden/heads
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_vocab_size(config["vocab_size"])
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[tensor_type])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_tokenizer(w, tokenizer)

    qtypes = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0}
    facts = GGUFFacts(Path(out))
    for name, shape in _shapes(folder, config):
        storage = _storage_type(tensor_type, shape)
        facts.tensor_types[name] = storage
        if storage in ("f32", "f16"):
            dtype = np.dtype(np.float32 if storage == "f32" else np.float16)
            w.add_tensor_info(gguf_name(name), shape, dtype, _numel(shape) * dtype.itemsize)
        else:
            byte_shape = quant_shape_to_byte_shape(shape, qtypes[storage])
            w.add_tensor_info(gguf_name(name), byte_shape, np.dtype(np.uint8), _numel(byte_shape),
                              raw_dtype=qtypes[storage])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, array in _tensors(folder, config):  # same order as the infos above: the writer pops them in turn
        w.write_tensor_data(encode(array, facts.tensor_types[name]))
    w.close()
    return facts


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
