"""The few collective operations the loop needs, no-ops in a single process.

``torchrun`` sets RANK, LOCAL_RANK and WORLD_SIZE; the process group is opened by the entry point (NCCL on
GPUs, gloo on CPU). Only rank 0 writes checkpoints and talks to Dagster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> "Dist":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def device(self) -> str:
        import torch

        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"


def init_process_group(dist: Dist) -> None:
    if not dist.enabled:
        return
    import torch
    import torch.distributed as td

    if not td.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(dist.local_rank)
        td.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")


def destroy_process_group(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()


def all_reduce_sum(dist: Dist, tensor) -> None:
    """Sum a device tensor over all ranks in place; queued on the device, the host does not wait for it."""
    if dist.enabled:
        import torch.distributed as td

        td.all_reduce(tensor)


def agreed(dist: Dist, value: float, device: str, pick: str) -> float:
    """The ``pick`` ("min" or "max") of every rank's ``value`` (every rank gets it; waits for all of them);
    ``value`` itself without DDP."""
    if not dist.enabled:
        return value
    import torch
    import torch.distributed as td

    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    td.all_reduce(t, op=td.ReduceOp.MIN if pick == "min" else td.ReduceOp.MAX)
    return float(t.item())


def gather_objects(dist: Dist, obj: Any) -> list[Any]:
    if not dist.enabled:
        return [obj]
    import torch.distributed as td

    out: list[Any] = [None] * dist.world_size
    td.all_gather_object(out, obj)
    return out


def broadcast_object(dist: Dist, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (the launch parameters only rank 0 reads from Pipes)."""
    if not dist.enabled:
        return obj
    import torch.distributed as td

    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def barrier(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as td

        td.barrier()
