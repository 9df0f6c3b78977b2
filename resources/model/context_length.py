"""How many tokens the configured base model can attend to, known before anything is loaded or built.

Used to refuse ``trainer.max_seq_len: 100000`` at start-up rather than after ingest and prepare. Cheap on
purpose: the tiny model's shape is a constant, a folder's ``config.json`` is one small file, and a GGUF file's
header is read only up to its ``<architecture>.context_length`` key (``gguf.GGUFReader`` would also parse every
tensor record: seconds for a real model). None when it cannot be told; the trainer checks again then.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, BinaryIO, Optional

# GGUF value types: fixed-size scalars by struct format, 8 = string, 9 = array (gguf spec, version 2 and 3)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def context_length(base_name: str, local_dir: Optional[Path] = None) -> Optional[int]:
    """The model's maximum positions: ``builtin:tiny``, a built-in or local GGUF, or a safetensors folder."""
    from resources.model.gguf import find_gguf
    from resources.model.tiny import TINY_ID, TINY_SHAPE

    if base_name == TINY_ID:
        return TINY_SHAPE["max_position_embeddings"]
    for folder in (local_dir, Path(base_name).expanduser()):
        if folder is not None and (folder / "config.json").is_file():
            try:
                cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            limit = cfg.get("max_position_embeddings") or (cfg.get("text_config") or {}).get("max_position_embeddings")
            return int(limit) if isinstance(limit, int) else None
    gguf = find_gguf(base_name)
    return gguf_context_length(gguf) if gguf is not None else None


def gguf_context_length(path: Path) -> Optional[int]:
    """``<general.architecture>.context_length`` from the GGUF header, reading no further than needed."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            return None
        version, _tensors, count = struct.unpack("<IQQ", fh.read(20))
        if version < 2:
            return None
        arch = None
        for _ in range(count):
            key = _string(fh)
            vtype = struct.unpack("<I", fh.read(4))[0]
            value = _value(fh, vtype)
            if key == "general.architecture":
                arch = value
            elif arch and key == f"{arch}.context_length":
                return int(value)
    return None


def _string(fh: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", fh.read(8))
    return fh.read(n).decode("utf-8", errors="replace")


def _value(fh: BinaryIO, vtype: int) -> Any:
    if vtype in _SCALARS:
        fmt = "<" + _SCALARS[vtype]
        return struct.unpack(fmt, fh.read(struct.calcsize(fmt)))[0]
    if vtype == _STRING:
        return _string(fh)
    if vtype == _ARRAY:
        item, n = struct.unpack("<IQ", fh.read(12))
        if item in _SCALARS:  # skipped, not read: the tokenizer's arrays are long
            fh.seek(n * struct.calcsize("<" + _SCALARS[item]), 1)
        else:
            for _ in range(n):
                _value(fh, item)
        return None
    raise ValueError(f"unknown GGUF value type {vtype}")
