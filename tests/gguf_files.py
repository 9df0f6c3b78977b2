"""Write a Llama safetensors folder as a GGUF file, the way llama.cpp's converter lays it out, for tests.

Tests need a GGUF they made themselves (the real one is 98 MB and quantised, so its weights cannot be
compared exactly). The tensor names, the rotary permutation of q/k and the gpt2-style tokenizer keys follow
llama.cpp's ``convert_hf_to_gguf.py``, which is what transformers' GGUF reader undoes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_name(hf: str) -> str:
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = hf.split(".", 3)
    module, _ = rest.rsplit(".", 1)
    return f"blk.{layer}.{NAMES[module]}.weight"


def write_llama_gguf(folder: Path, out: Path, *, license: str = "apache-2.0", organization: str = "privft tests",
                     name: str = "tiny test model") -> Path:
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    template = (folder / "chat_template.jinja").read_text() if (folder / "chat_template.jinja").exists() \
        else tok_config.get("chat_template")
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(name)
    w.add_organization(organization)
    w.add_license(license)
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    w.add_rope_dimension_count(config["hidden_size"] // config["num_attention_heads"])
    w.add_rope_freq_base(float((config.get("rope_parameters") or {}).get("rope_theta", config.get("rope_theta", 10000.0))))
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_vocab_size(config["vocab_size"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    vocab = dict(tok["model"]["vocab"])
    special = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    vocab.update(special)
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges(merges)
    for key, value in (("bos", config.get("bos_token_id")), ("eos", config.get("eos_token_id")),
                       ("pad", config.get("pad_token_id"))):
        if value is not None:
            getattr(w, f"add_{key}_token_id")(int(value))
    w.add_add_bos_token(False)
    if template:
        w.add_chat_template(template)

    weights = {}
    for f in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(str(f)))
    for hf, tensor in weights.items():
        t = tensor.astype(np.float32)
        if hf.endswith("q_proj.weight"):
            t = _permute(t, config["num_attention_heads"])
        elif hf.endswith("k_proj.weight"):
            t = _permute(t, config["num_key_value_heads"])
        w.add_tensor(_gguf_name(hf), t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
