"""Which files of a training checkpoint folder make up the adapter, and copying just those.

A trainer checkpoint holds the adapter (``adapter_config.json`` + weights) next to resumable trainer state
(optimizer, scheduler, RNG state, trainer_state.json, training_args). The state is useless to a consumer and
partly pickle-based, so it is never copied or loaded. Adapter *weights* in pickle format are not skipped
silently: they are copied so that ``check_weight_files`` refuses them, naming the file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from resources.model.loading import PICKLE_SUFFIXES, check_weight_files

ADAPTER_CONFIG = "adapter_config.json"
# Names a peft/transformers weight file can have; anything else with a weight suffix is trainer state.
WEIGHT_STEMS = ("adapter_model", "pytorch_model", "model")
EXTRA_FILES = ("README.md",)


def is_adapter_file(path: Path) -> bool:
    if path.name == ADAPTER_CONFIG or path.name in EXTRA_FILES:
        return True
    if path.suffix in PICKLE_SUFFIXES + (".safetensors",):
        return path.name.split(".")[0].split("-0")[0] in WEIGHT_STEMS
    return False


def copy_adapter(src: Path | str, dest: Path | str, *, allow_pickle: bool = False) -> Path:
    """Copy the adapter files of ``src`` into ``dest`` and check them; trainer state stays behind."""
    src, dest = Path(src), Path(dest)
    if not (src / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(f"{src}: no {ADAPTER_CONFIG}; expected a peft LoRA checkpoint folder "
                                "(adapter_config.json + adapter_model.safetensors), e.g. a checkpoint-<step>/ folder")
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.is_file() and is_adapter_file(f):
            shutil.copy2(f, dest / f.name)
    check_weight_files(dest, allow_pickle)
    return dest
