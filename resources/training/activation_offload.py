"""What the first decoder layers save for backward goes to pinned host memory while the GPU computes the later
layers, and comes back ahead of their backward: a third way to hold a layer's activations, between keeping them
on the GPU and recomputing them (activation_plan.py decides which layers take which).

The copies run on their own CUDA streams, so they overlap with compute; PCIe bounds how many layers can go out
during one forward (an H200 copies about 54 GB/s each way, a kept 8B layer at 8,192 tokens is about 0.9 GB).
In forward each saved tensor is copied out on the ``out`` stream; the GPU tensor is released once its copy is
done (polled at every save, and the forward waits when the copies in flight exceed ``in_flight_cap`` bytes, so
the memory they hold is bounded). In backward, when the gradient reaches layer ``j``'s output, the saved tensors
of the offloaded layers ``j-1 .. j-depth`` are copied back on the ``in`` stream, and compute waits for that copy
only when it needs the tensor.

A tensor saved several times in a layer (LoRA's q, k and v keep the same input) goes out and comes back once;
a layer's GPU tensors are held until its forward ends, so that no new tensor takes the address of one released.
Parameters, CPU tensors and small tensors (under ``min_bytes``) stay as they are. On CPU (tests) the copies are
synchronous clones: the bookkeeping is the same, the overlap is not.
"""

from __future__ import annotations

from collections import deque

MIN_BYTES = 1 << 20


class _Saved:
    """One offloaded tensor: its host copy, the GPU tensor until that copy is done, its copy back."""

    __slots__ = ("layer", "gpu", "host", "done_out", "back", "done_in", "uses", "nbytes")

    def __init__(self, layer: int, gpu):
        self.layer, self.gpu, self.host, self.back = layer, gpu, None, None
        self.done_out = self.done_in = None
        self.uses, self.nbytes = 0, gpu.numel() * gpu.element_size()


def _layout(t) -> tuple:
    """``t``'s strides where they describe a dense block (a permuted contiguous tensor: attention's transposed
    q, k, v), else contiguous ones: a view into a larger storage must not drag the rest of it along."""
    order = sorted(range(t.dim()), key=lambda d: t.stride(d), reverse=True)
    expected, dense = 1, True
    for d in reversed(order):
        if t.shape[d] != 1 and t.stride(d) != expected:
            dense = False
        expected *= t.shape[d]
    if dense:
        return tuple(t.stride())
    strides, step = [0] * t.dim(), 1
    for d in reversed(range(t.dim())):
        strides[d], step = step, step * t.shape[d]
    return tuple(strides)


class ActivationOffload:
    def __init__(self, layers: list, device: str, *, in_flight_cap: float, depth: int = 2,
                 min_bytes: int = MIN_BYTES, log=None):
        import time

        import torch

        self.layers, self.depth, self.min_bytes = layers, depth, min_bytes
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and self.device.index is None:  # "cuda": tensors report cuda:N, and _pack compares devices
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.out_stream = torch.cuda.Stream(self.device) if self.cuda else None
        self.in_stream = torch.cuda.Stream(self.device) if self.cuda else None
        self.in_flight_cap = in_flight_cap
        self.saved: dict[int, list[_Saved]] = {}  # per offloaded layer
        self._by_key: dict = {}
        self._pending: deque[_Saved] = deque()  # copies out not yet known to be done
        self._in_flight_bytes = 0
        self._current = None
        self._hooks = None
        self._handles = []
        self.bytes_out = 0  # per forward, for the log and the tests
        self.held_s = 0.0  # per forward: how long the forward waited for copies (in_flight_cap)
        self.allocated_at_backward = None  # GPU bytes allocated when the first fetch began
        self.most_in_flight = 0
        self.forwards, self._log, self._clock = 0, log, time.perf_counter

    # --- installation -----------------------------------------------------------------------------------------
    def install(self, all_layers: list) -> None:
        offloaded = {id(layer): i for i, layer in enumerate(self.layers)}
        for j, layer in enumerate(all_layers):
            if id(layer) in offloaded:
                i = offloaded[id(layer)]
                self._handles.append(layer.register_forward_pre_hook(
                    lambda m, a, k, i=i: self._enter(i), with_kwargs=True))
                self._handles.append(layer.register_forward_hook(lambda m, a, out: self._exit()))
            else:  # copies finished while later layers run: their GPU memory goes before the kept layers fill it
                self._handles.append(layer.register_forward_pre_hook(lambda m, a: self._drain(wait=False)))
            # the gradient reaching layer j's output is the start of layer j's backward: fetch the layers below
            below = [offloaded[id(x)] for x in all_layers[max(0, j - self.depth):j] if id(x) in offloaded]
            if below:
                self._handles.append(layer.register_forward_hook(
                    lambda m, a, out, below=below: self._on_backward_of(out, below)))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.reset()

    def reset(self) -> None:
        """Forget the last forward's tensors (those autograd never asked back, e.g. a branch without gradient)."""
        if self._log is not None and self.bytes_out and (self.forwards <= 3 or self.forwards % 100 == 0):
            self._log(f"activation offload, forward {self.forwards}: {self.bytes_out / 2 ** 30:.2f} GiB to host, "
                      f"at most {self.most_in_flight / 2 ** 30:.2f} GiB in flight, the forward waited "
                      f"{self.held_s:.3f} s for copies; {(self.allocated_at_backward or 0) / 2 ** 30:.2f} GiB "
                      "allocated as backward reached the offloaded layers")
        self._drain(wait=True)
        if self.cuda:  # a copy back that nobody waited for must end before its memory is reused
            self.in_stream.synchronize()
        self.saved.clear()
        self._by_key.clear()
        self.bytes_out, self.held_s, self.most_in_flight, self.allocated_at_backward = 0, 0.0, 0, None

    # --- forward ----------------------------------------------------------------------------------------------
    def _enter(self, i: int):
        import torch

        if not torch.is_grad_enabled():
            return
        if i == 0:
            self.reset()
            self.forwards += 1
        self._current = i
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()

    def _exit(self):
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            if not self.cuda:
                for saved in self.saved.get(self._current, []):
                    saved.gpu = None
            self._hooks, self._current = None, None
            self._by_key.clear()
            self._drain(wait=False)

    def _pack(self, t):
        import torch

        if (t.device != self.device or isinstance(t, torch.nn.Parameter)
                or t.numel() * t.element_size() < self.min_bytes):
            return t
        storage = t.untyped_storage()
        # views of one storage (an RMSNorm keeps x.view(-1, d), LoRA keeps x) go as the storage, once; a small view
        # of a large storage goes alone
        whole = storage.nbytes() <= 2 * t.numel() * t.element_size()
        key = storage.data_ptr() if whole else (storage.data_ptr(), t.storage_offset(), tuple(t.shape),
                                                 tuple(t.stride()), t.dtype)
        saved = self._by_key.get(key)
        if saved is None:
            source = torch.empty(0, dtype=torch.uint8, device=t.device).set_(storage) if whole else t
            saved = self._by_key[key] = _Saved(self._current, source)
            self.saved.setdefault(self._current, []).append(saved)
            self._copy_out(saved)
        saved.uses += 1
        return (saved, (t.dtype, t.storage_offset(), tuple(t.shape), tuple(t.stride())) if whole else None)

    def _copy_out(self, saved: _Saved) -> None:
        import torch

        t = saved.gpu
        if not self.cuda:  # tests: the same bookkeeping, a synchronous copy
            saved.host = t.detach().clone()
            self.bytes_out += saved.nbytes
            return
        saved.host = torch.empty_strided(t.shape, _layout(t), dtype=t.dtype, pin_memory=True)
        self.out_stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.out_stream):
            saved.host.copy_(t, non_blocking=True)
            saved.done_out = torch.cuda.Event()
            saved.done_out.record(self.out_stream)
        self._pending.append(saved)
        self._in_flight_bytes += saved.nbytes
        self.most_in_flight = max(self.most_in_flight, self._in_flight_bytes)
        self.bytes_out += saved.nbytes
        self._drain(wait=False)

    def _drain(self, wait: bool) -> None:
        """Release the GPU tensors whose copy out is done; waits while more than the cap is in flight."""
        while self._pending:
            oldest = self._pending[0]
            if oldest.layer == self._current:  # its layer still runs: held, so no new tensor takes its address
                return
            if not oldest.done_out.query():
                if not wait and self._in_flight_bytes <= self.in_flight_cap:
                    return
                start = self._clock()
                oldest.done_out.synchronize()
                self.held_s += self._clock() - start
            self._pending.popleft()
            self._in_flight_bytes -= oldest.nbytes
            oldest.gpu = None

    # --- backward ---------------------------------------------------------------------------------------------
    def _on_backward_of(self, out, below: list[int]):
        import torch

        first = out[0] if isinstance(out, (tuple, list)) else out
        if isinstance(first, torch.Tensor) and first.requires_grad:
            first.register_hook(lambda grad: self._fetch(below))

    def _fetch(self, layers: list[int]) -> None:
        import torch

        self._drain(wait=False)
        if not self.cuda:
            return
        if self.allocated_at_backward is None:
            self.allocated_at_backward = torch.cuda.memory_allocated(self.device)
        compute = torch.cuda.current_stream(self.device)
        self.in_stream.wait_stream(compute)  # the memory we allocate below may still be read by queued kernels
        for i in sorted(layers, reverse=True):
            for saved in self.saved.get(i, []):
                if saved.gpu is not None or saved.back is not None or saved.host is None:  # on the GPU, or done
                    continue
                saved.back = torch.empty_strided(saved.host.shape, saved.host.stride(), dtype=saved.host.dtype,
                                                 device=self.device)
                with torch.cuda.stream(self.in_stream):
                    saved.back.copy_(saved.host, non_blocking=True)
                    saved.done_in = torch.cuda.Event()
                    saved.done_in.record(self.in_stream)

    def _unpack(self, packed):
        if not (isinstance(packed, tuple) and len(packed) == 2 and isinstance(packed[0], _Saved)):
            return packed
        import torch

        saved, view = packed

        t = saved.gpu
        if t is None:
            if saved.back is None and self.cuda:  # not fetched ahead (its layer had no later layer): fetch now
                self._fetch([saved.layer])
            if saved.back is None:  # CPU
                t = saved.host
            else:
                torch.cuda.current_stream(self.device).wait_event(saved.done_in)
                t = saved.back
        if view is not None:  # the tensor autograd saved, as a view of the storage that went out
            dtype, offset, shape, stride = view
            t = torch.empty(0, dtype=dtype, device=t.device).set_(t.untyped_storage(), offset, shape, stride)
        saved.uses -= 1
        if saved.uses == 0:  # the last node that saved it has it now; ours goes (the GPU tensor once copied out)
            saved.back = saved.host = None
        return t
