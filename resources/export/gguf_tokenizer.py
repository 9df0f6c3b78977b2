"""A model folder's tokenizer as GGUF metadata, laid out as llama.cpp's ``convert_hf_to_gguf.py`` writes it.

Only byte-level BPE tokenizers (GPT-2 style: SmolLM, Llama 3, Qwen, the built-in tiny model) are written: their
``tokenizer.json`` vocabulary and merges go into the GGUF unchanged. ``tokenizer.ggml.pre`` names the regex
llama.cpp splits text with before BPE; it is read off the folder's own pre-tokenizer (the one the model was
fine-tuned with), never assumed, and an unknown one is refused rather than guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# llama.cpp/src/llama-vocab.cpp spells these token types; CONTROL tokens are matched whole and never split.
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# transformers' {% generation %} marks assistant tokens for training masks; other runtimes do not know the tag.
_GENERATION_TAG = re.compile(r"\{%(-?)\s*(end)?generation\s*(-?)%\}")


class TokenizerUnsupported(ValueError):
    pass


@dataclass
class TokenizerMeta:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special_ids: dict[str, int] = field(default_factory=dict)  # bos, eos, pad, unk, eot -> id
    add_bos: bool = False
    chat_template: str | None = None


def _pre_tokenizer_name(pre: dict[str, Any] | None, path: Path) -> str:
    """llama.cpp's name for the split the folder's pre-tokenizer does."""
    kind = (pre or {}).get("type")
    if kind == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space"):
        return "gpt-2"  # the GPT-2 regex, which ByteLevel applies itself (llama.cpp spells it so)
    steps = pre.get("pretokenizers", []) if kind == "Sequence" else []
    kinds = [s.get("type") for s in steps]
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"  # SmolLM's original tokenizer: every digit alone, then the GPT-2 regex
    if kinds == ["Split", "ByteLevel"] and steps[0].get("pattern", {}).get("Regex") == _LLAMA3_SPLIT:
        return "llama-bpe"
    raise TokenizerUnsupported(f"{path}: pre-tokenizer {json.dumps(pre)[:300]} is not one llama.cpp is known to "
                               "reproduce (supported: GPT-2 byte-level, SmolLM digits + byte-level, Llama 3 split)")


def _read_chat_template(folder: Path, tokenizer_config: dict[str, Any]) -> str | None:
    jinja = folder / "chat_template.jinja"
    template = jinja.read_text(encoding="utf-8") if jinja.is_file() else tokenizer_config.get("chat_template")
    if not isinstance(template, str):
        return None
    # an always-true block keeps the tag's whitespace control and the template's meaning byte for byte
    return _GENERATION_TAG.sub(lambda m: "{%" + m[1] + (" endif " if m[2] else " if true ") + m[3] + "%}",
                               template)


def _byte_level(decoder: dict[str, Any]) -> bool:
    """A ByteLevel decoder, alone or inside a Sequence: transformers 5.17 converts a GGUF's gpt2 tokenizer with
    Sequence[ByteFallback, Fuse, Replace(U+2581), ByteLevel], whose extra steps touch no byte-level token (none
    holds U+2581 or is a <0xNN> byte token), so the vocabulary is still byte-level and llama.cpp decodes it alike."""
    if decoder.get("type") == "Sequence":
        return any(d.get("type") == "ByteLevel" for d in decoder.get("decoders") or [])
    return decoder.get("type") == "ByteLevel"


def tokenizer_metadata(folder: Path | str, vocab_size: int, end_of_turn: str | None = None) -> TokenizerMeta:
    """Everything a GGUF needs to tokenize like ``folder``'s tokenizer; ``end_of_turn`` is the token that closes
    an assistant turn in its chat template (see chat_parts.py), written as llama.cpp's end-of-turn token."""
    folder = Path(folder)
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise TokenizerUnsupported(f"{folder}: no tokenizer.json; only fast (tokenizers-library) tokenizers export")
    tok = json.loads(path.read_text(encoding="utf-8"))
    model, decoder = tok.get("model") or {}, tok.get("decoder") or {}
    if model.get("type") != "BPE" or not _byte_level(decoder):
        raise TokenizerUnsupported(f"{path}: a {model.get('type')} tokenizer with a {decoder.get('type')} decoder; "
                                   "only byte-level BPE tokenizers are exported to GGUF")
    pre = _pre_tokenizer_name(tok.get("pre_tokenizer"), path)
    config_path = folder / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}

    vocab: dict[str, int] = dict(model["vocab"])
    added = {t["content"]: t for t in tok.get("added_tokens", [])}
    vocab.update({content: t["id"] for content, t in added.items()})
    by_id = {i: t for t, i in vocab.items()}
    if len(by_id) != len(vocab) or max(by_id) >= vocab_size:
        raise TokenizerUnsupported(f"{path}: token ids are not unique or exceed the model's vocab_size {vocab_size}")
    tokens, types = [], []
    for i in range(vocab_size):  # ids the tokenizer does not use pad the model's embedding rows, as llama.cpp does
        token = by_id.get(i)
        tokens.append(token if token is not None else f"[PAD{i}]")
        if token is None:
            types.append(UNUSED)
        elif token in added:
            types.append(CONTROL if added[token].get("special") else USER_DEFINED)
        else:
            types.append(NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    special = {}
    for key in ("bos", "eos", "pad", "unk"):
        name = tokenizer_config.get(f"{key}_token")
        name = name.get("content") if isinstance(name, dict) else name
        if name is not None:
            if name not in vocab:
                raise TokenizerUnsupported(f"{config_path}: {key}_token {name!r} is not in the vocabulary")
            special[key] = vocab[name]
    if end_of_turn is not None:
        special["eot"] = vocab[end_of_turn]
    return TokenizerMeta(tokens, types, merges, pre, special, _adds_bos(folder, special.get("bos")),
                         _read_chat_template(folder, tokenizer_config))


def _adds_bos(folder: Path, bos_id: int | None) -> bool:
    """Whether encoding plain text puts the BOS token first (the post-processor's doing, so ask it)."""
    from tokenizers import Tokenizer

    if bos_id is None:
        return False
    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode("hello").ids
    return bool(ids) and ids[0] == bos_id


def write_tokenizer(writer: Any, meta: TokenizerMeta) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(meta.pre)
    writer.add_token_list(meta.tokens)
    writer.add_token_types(meta.types)
    writer.add_token_merges(meta.merges)
    for key, token_id in meta.special_ids.items():
        getattr(writer, f"add_{key}_token_id")(int(token_id))
    writer.add_add_bos_token(meta.add_bos)
    writer.add_add_eos_token(False)
    if meta.chat_template:
        writer.add_chat_template(meta.chat_template)
