"""What a decoder layer saves for backward, measured: the bytes autograd keeps while the layer runs, per token;
how long its forward takes and how fast the GPU copies to pinned host memory (for offloading).

activation_plan.py sizes its plan from this, so the plan follows whatever the model really saves (attention
kernel, Liger kernels, LoRA path, dtype) instead of a formula that would drift from it.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

from resources.training.activation_plan import decoder_layers


class Probe(NamedTuple):
    per_token: float  # bytes a kept layer saves per token position
    free: float | None  # bytes free on the GPU after the forward (None on CPU)
    layer_seconds: float | None  # one layer's forward of the batch, measured on a GPU (None on CPU)


class SavedBytes:
    """Counts the bytes autograd saves while one layer runs: tensors saved for backward that are neither
    parameters nor the layer's shared inputs (attention mask, rotary tables), each storage once."""

    def __init__(self, layer):
        self.layer, self.bytes, self._seen, self._shared, self._hooks = layer, 0, set(), set(), None
        self._held = []
        self.inputs = None  # the layer's (args, kwargs), to time it again

    def _pack(self, t):
        import torch

        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if not isinstance(t, torch.nn.Parameter) and ptr not in self._shared and ptr not in self._seen:
            self._seen.add(ptr)
            self.bytes += storage.nbytes()
        # The probe never runs backward: the graph gets nothing back. Handing ``t`` to it would let a node that
        # saves its own output hold itself through that output's grad_fn, a cycle through C++ that gc cannot
        # break (the layer's activations stayed allocated for the whole run, 0.9 GiB on an 8B model). They are
        # held here until the layer ends instead, so that no later tensor takes a counted one's address.
        self._held.append(t)
        return None

    @staticmethod
    def _unpack(_):
        raise RuntimeError("the activation probe's forward keeps no tensors for backward")

    def _before(self, module, args, kwargs):
        import torch

        # the layer's weights by storage too: a matmul saves a transposed view of a weight, which takes no memory
        self.inputs = (args, kwargs)
        shared = list(args[1:]) + list(kwargs.values()) + list(module.parameters()) + list(module.buffers())
        for value in shared:
            for t in value if isinstance(value, (tuple, list)) else [value]:
                if isinstance(t, torch.Tensor):
                    self._shared.add(t.untyped_storage().data_ptr())
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()

    def _after(self, module, args, output):
        self._hooks.__exit__(None, None, None)
        self._held.clear()

    @contextlib.contextmanager
    def counting(self):
        handles = [self.layer.register_forward_pre_hook(self._before, with_kwargs=True),
                   self.layer.register_forward_hook(self._after)]
        was = self.layer.gradient_checkpointing
        self.layer.gradient_checkpointing = False
        try:
            yield self
        finally:
            self.layer.gradient_checkpointing = was
            for h in handles:
                h.remove()


def probe(net, model, batch: dict, autocast, device: str) -> Probe:
    """What a kept layer saves and what the GPU has free, from one forward of ``batch`` (nothing learnt, random
    state restored), and on a GPU how long that layer's forward takes."""
    import torch

    layers = decoder_layers(model)
    tokens = batch["input_ids"].numel()
    cuda = device.startswith("cuda")
    # the second layer: the first one's input comes from frozen embeddings and needs no gradient, so its norm keeps
    # nothing for backward, which every later layer's norm does
    counter = SavedBytes(layers[1] if len(layers) > 1 else layers[0])
    model.train()  # checkpointing and dropout act in training mode only
    devices = [torch.device(device).index or 0] if cuda else []
    with torch.random.fork_rng(devices=devices), counter.counting(), autocast:
        out = net(**batch, use_cache=False, num_items_in_batch=1)
        del out
    free = seconds = None
    if cuda:
        free_now, _ = torch.cuda.mem_get_info(device)
        free = free_now + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        with torch.random.fork_rng(devices=devices):
            seconds = _forward_seconds(counter.layer, *counter.inputs, autocast)
    counter.inputs = None
    return Probe(counter.bytes / tokens, free, seconds)


def _fastest(run, repeats: int = 3) -> float:
    """Seconds of the fastest of ``repeats`` GPU runs of ``run()`` (the first ones warm kernels up)."""
    import torch

    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1000)
    return best


def _forward_seconds(layer, args, kwargs, autocast) -> float:
    """One forward of ``layer`` without autograd."""
    import torch

    with torch.no_grad(), autocast:
        return _fastest(lambda: layer(*args, **kwargs))


def copy_seconds_per_byte(device: str, nbytes: int = 256 << 20) -> float:
    """GPU to pinned host memory, measured on a copy of ``nbytes``."""
    import torch

    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    return _fastest(lambda: dst.copy_(src, non_blocking=True)) / nbytes


def host_bytes_free(world_size: int = 1) -> float:
    """Half the host memory available now, shared by the ranks on this machine: what offloading may pin."""
    import os

    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0.0
    return available / 2 / max(world_size, 1)
