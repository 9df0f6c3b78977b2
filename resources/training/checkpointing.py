"""Complete, atomically published training checkpoints, and finding the last one to resume from.

``checkpoint-000010/`` holds the peft adapter at its top level (``adapter_model.safetensors``,
``adapter_config.json``: what evaluation and merging load), ``trainer_state.json`` (step, data position, loss
history, tokens seen, config and data hashes) and ``training_state/`` with the optimizer, scheduler and RNG
states. Those are ``torch.save`` pickles, kept in a subfolder so the adapter folder itself passes the
"safetensors only" rule of ``resources.model.loading.check_weight_files``; we unpickle only files we wrote.

The folder is assembled in a hidden temporary sibling and renamed into place (``resources.storage.atomic_dir``),
so a crash mid-write leaves no ``checkpoint-*`` folder at all, never a partial one.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

from resources.disk_space import ensure_space, explain_disk_full
from resources.storage import atomic_dir, content_hash

STATE_FILE = "trainer_state.json"
TRAINING_STATE = "training_state"
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
_NAME = re.compile(r"^checkpoint-(\d{6,})$")


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:06d}"


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(output_dir: Path | str, step: int, *, model, optimizer, scheduler, state: dict[str, Any],
                    rng_states: list[dict[str, Any]] | None = None) -> Path:
    """Publish ``output_dir/checkpoint-<step>/``; ``model`` is the (unwrapped) peft model.

    ``rng_states`` holds one RNG state per process (rank order); by default this process's own.
    """
    import torch

    target = Path(output_dir) / checkpoint_name(step)
    what, needed = f"checkpoint step {step}", checkpoint_bytes(model, optimizer)
    ensure_space(what, output_dir, needed)  # say so before writing, not as torch's "unexpected pos" after
    with atomic_dir(target) as tmp, explain_disk_full(what, tmp, needed):
        model.save_pretrained(str(tmp), safe_serialization=True)
        _canonicalise_adapter_config(tmp / "adapter_config.json")
        ts = tmp / TRAINING_STATE
        ts.mkdir()
        torch.save(optimizer.state_dict(), ts / "optimizer.pt")
        torch.save(scheduler.state_dict(), ts / "scheduler.pt")
        torch.save(rng_states or [rng_state()], ts / "rng_state.pt")
        (tmp / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2, sort_keys=True))
        missing = [f for f in ADAPTER_FILES if not (tmp / f).is_file()]
        if missing:
            raise RuntimeError(f"saving the adapter for step {step} produced no {missing}; is the model a peft model?")
    return target


def checkpoint_bytes(model, optimizer) -> int:
    """About what a checkpoint takes on disk: the trainable (adapter) weights, the optimizer's tensors, and 1 MiB
    for configs, scheduler and RNG states."""
    import torch

    adapter = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values()
                if isinstance(t, torch.Tensor))
    return adapter + state + (1 << 20)


def _canonicalise_adapter_config(path: Path) -> None:
    """peft writes target_modules from a set, in hash-seed order; sort it so equal adapters hash equal."""
    if not path.is_file():
        return
    cfg = json.loads(path.read_text())
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True))


def is_complete(path: Path) -> bool:
    ts = path / TRAINING_STATE
    return (all((path / f).is_file() for f in ADAPTER_FILES + (STATE_FILE,))
            and all((ts / f).is_file() for f in ("optimizer.pt", "scheduler.pt", "rng_state.pt")))


def list_checkpoints(output_dir: Path | str) -> list[Path]:
    """Complete checkpoints under ``output_dir``, oldest first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found) if is_complete(p)]


def latest_checkpoint(output_dir: Path | str) -> Path | None:
    ckpts = list_checkpoints(output_dir)
    return ckpts[-1] if ckpts else None


def read_state(checkpoint: Path | str) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())


def load_training_state(checkpoint: Path | str, *, optimizer, scheduler, rank: int = 0) -> dict[str, Any]:
    """Restore optimizer, scheduler and this rank's RNG from a checkpoint we wrote; return its trainer state."""
    import torch

    ts = Path(checkpoint) / TRAINING_STATE
    # weights_only=False: these pickles hold numpy/python RNG tuples, and were written by save_checkpoint above
    optimizer.load_state_dict(torch.load(ts / "optimizer.pt", map_location="cpu", weights_only=False))
    scheduler.load_state_dict(torch.load(ts / "scheduler.pt", weights_only=False))
    rngs = torch.load(ts / "rng_state.pt", weights_only=False)
    set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    return read_state(checkpoint)


def adapter_hash(checkpoint: Path | str) -> str:
    """Content hash of the adapter alone: the data version of what downstream stages consume."""
    return content_hash(*(Path(checkpoint) / f for f in ADAPTER_FILES))


def remove_stale_temporaries(output_dir: Path | str) -> list[str]:
    """Delete half-written checkpoint folders a killed run left behind (hidden ``.checkpoint-*`` siblings)."""
    output_dir = Path(output_dir)
    removed = []
    if output_dir.is_dir():
        for p in output_dir.iterdir():
            if p.is_dir() and p.name.startswith(".checkpoint-") and p.name.endswith((".tmp", ".old")):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
    return removed
