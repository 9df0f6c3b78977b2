"""Load a base model, tokenizer or adapter from a local folder: safetensors only, remote code off by default.

Every stage (trainer, evaluator, merger, smoke inference) loads through here, so the safety rules hold
everywhere: pickle-based weight files (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) are refused unless the
configuration explicitly allows them, and ``trust_remote_code`` is passed only when configured per model.
"""

from __future__ import annotations

from pathlib import Path

from resources.model.bnb_cpu import keep_4bit_weights_unpacked
from resources.model.chat_template import DEFAULT_CHAT_TEMPLATE

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class UnsafeWeightsError(RuntimeError):
    pass


def check_weight_files(path: Path | str, allow_pickle: bool = False) -> None:
    """Refuse a model or adapter folder whose weights are pickle-based (they can run arbitrary code on load)."""
    path = Path(path)
    weights = [f for f in path.iterdir() if f.is_file() and f.suffix in PICKLE_SUFFIXES + (".safetensors",)]
    pickled = sorted(f.name for f in weights if f.suffix in PICKLE_SUFFIXES)
    if pickled and not allow_pickle:
        raise UnsafeWeightsError(
            f"{path}: refusing pickle-format weight files {pickled}: loading them can execute arbitrary code. "
            "Convert them to safetensors, or set allow_pickle: true for this model if you trust its origin.")
    if not any(f.suffix == ".safetensors" for f in weights) and not pickled:
        raise FileNotFoundError(f"{path}: no *.safetensors weight file found")


def is_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def compute_dtype():
    """bf16 where the GPU supports it, fp32 on CPU (bf16 matmuls on CPU are slow and less precise)."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(path: Path | str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    if not tok.chat_template:
        tok.chat_template = DEFAULT_CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def nf4_config(dtype=None):
    """4-bit NF4 with double quantisation: the QLoRA recipe (Dettmers et al., 2023)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype or compute_dtype(), bnb_4bit_quant_storage="uint8")


def load_causal_lm(path: Path | str, *, quantize_4bit: bool = False, dtype=None, trust_remote_code: bool = False,
                   allow_pickle: bool = False, device: str | None = None):
    """Load a causal LM from a local folder, in 4-bit NF4 (training) or full/half precision (eval, merge)."""
    import torch
    from transformers import AutoModelForCausalLM

    check_weight_files(path, allow_pickle)
    dtype = dtype or compute_dtype()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    kwargs = dict(dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=not allow_pickle)
    if quantize_4bit:
        kwargs["quantization_config"] = nf4_config(dtype)
        kwargs["device_map"] = {"": device if device != "cuda" else torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if quantize_4bit:
        keep_4bit_weights_unpacked(model)  # bnb_cpu.py: its AVX512-BF16 repacking breaks odd widths and training
    else:
        model.to(device)
    return model


def load_adapter(model, adapter_dir: Path | str, *, allow_pickle: bool = False, trainable: bool = False):
    from peft import PeftModel

    check_weight_files(adapter_dir, allow_pickle)
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
