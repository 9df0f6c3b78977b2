"""Batches sized by a token budget, and a runner that halves a batch when the accelerator runs out of memory.

A fixed batch count fails on the one long item in a data set; a budget in tokens (longest item times batch
size, padding included) keeps memory per batch roughly constant. Items are sorted by length first so a batch
holds similar lengths and little padding. Callers get results back in input order.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def budget_batches(lengths: Sequence[int], max_batch_tokens: int, extra_tokens: int = 0) -> list[list[int]]:
    """Indices grouped so that ``(longest + extra_tokens) * batch_size <= max_batch_tokens`` (at least one each).

    ``extra_tokens`` is what each row grows by during the step (new tokens in generation).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))  # longest first: an OOM shows up early
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        cost = max(longest, lengths[i]) + extra_tokens
        if current and cost * (len(current) + 1) > max_batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, lengths[i])
    if current:
        batches.append(current)
    return batches


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _free_cache() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_split_on_oom(batch: list[int], fn: Callable[[list[int]], list[T]]) -> list[T]:
    """``fn(batch)``; on out-of-memory run each half separately (recursively) and join the results."""
    try:
        return fn(batch)
    except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        if not _is_oom(exc):
            raise
        if len(batch) == 1:
            raise RuntimeError(
                f"out of memory on a single item (index {batch[0]}) even at batch size 1: lower max_new_tokens, "
                "truncate long items, or evaluate on a larger device") from exc
    _free_cache()
    half = len(batch) // 2
    return run_split_on_oom(batch[:half], fn) + run_split_on_oom(batch[half:], fn)


def run_batched(lengths: Sequence[int], max_batch_tokens: int, fn: Callable[[list[int]], list[T]],
                extra_tokens: int = 0) -> list[T]:
    """Run ``fn`` over budget-sized batches of item indices; results come back in input order."""
    out: list = [None] * len(lengths)
    for batch in budget_batches(lengths, max_batch_tokens, extra_tokens):
        for i, result in zip(batch, run_split_on_oom(batch, fn)):
            out[i] = result
    return out
