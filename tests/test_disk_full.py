"""A full disk while saving a checkpoint says so: what, where, how much was needed and how much was free.

On a real small tmpfs (mounting one needs root; skipped cleanly where the machine does not allow it)."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from resources.disk_space import DiskFullError, explain_disk_full


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real file system that fills up."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                           text=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {tried.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def trained_one_step(tiny_model_dir):
    """The tiny model with its LoRA adapter and an optimizer that has taken one step (so it has state to save)."""
    import torch

    from resources.training.config import TrainConfig
    from resources.training.optim import make_optimizer, make_scheduler
    from resources.training.qlora_model import build_qlora_model

    cfg = TrainConfig(quantization="none", lora_r=32, max_steps=2, warmup_steps=0)
    model = build_qlora_model(cfg, tiny_model_dir, "cpu")
    optimizer = make_optimizer(cfg, model.parameters())
    scheduler = make_scheduler(cfg, optimizer)
    ids = torch.randint(0, 100, (1, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_a_checkpoint_that_does_not_fit_is_refused_saying_disk_full_where_and_how_much(small_disk, trained_one_step):
    from resources.training.checkpointing import checkpoint_bytes, save_checkpoint

    model, optimizer, scheduler = trained_one_step
    needed = checkpoint_bytes(model, optimizer)
    assert needed > 1 << 20  # larger than the disk: the point of this test
    out = small_disk / "run"
    out.mkdir()
    with pytest.raises(DiskFullError) as full:
        save_checkpoint(out, 20, model=model, optimizer=optimizer, scheduler=scheduler, state={"loss": 1.0})
    msg = str(full.value)
    assert f"disk full while writing checkpoint step 20 to {out}" in msg
    assert f"needs about {needed / 2**20:.1f} MiB" in msg and "free of 1.0 MiB there" in msg
    assert full.value.errno == 28
    assert list(out.iterdir()) == []  # nothing half-written, published or left hidden


def test_a_short_write_by_torch_on_a_full_disk_is_translated(small_disk):
    import torch

    target = small_disk / "optimizer.pt"
    with pytest.raises(DiskFullError) as full:
        with explain_disk_full("optimizer state", small_disk, needed=4 << 20):
            torch.save(torch.zeros(1 << 20), target)  # 4 MiB on a 1 MiB disk
    assert "disk full while writing optimizer state to" in str(full.value) and "needs about 4.0 MiB" in str(full.value)
    cause = full.value.__cause__
    assert isinstance(cause, RuntimeError) and not isinstance(cause, OSError)  # torch's own, not an errno


def test_a_short_write_by_safetensors_on_a_full_disk_is_translated(small_disk):
    import torch
    from safetensors.torch import save_file

    with pytest.raises(DiskFullError, match="disk full while writing adapter weights"):
        with explain_disk_full("adapter weights", small_disk, needed=4 << 20):
            save_file({"w": torch.zeros(1 << 20)}, str(small_disk / "adapter_model.safetensors"))


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with explain_disk_full("x", tmp_path, needed=1):  # room enough: not a full disk
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
    with pytest.raises(ValueError, match="bad"):
        with explain_disk_full("x", tmp_path, needed=1):
            raise ValueError("bad")
