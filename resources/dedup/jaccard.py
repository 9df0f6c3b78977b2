"""Exact Jaccard similarity of two shingle sets, the check every LSH candidate must pass.

LSH only says "these two might be similar"; a pair is a near duplicate only when the Jaccard similarity of
the actual shingle sets reaches the threshold. Sets are the sorted distinct 64-bit shingle hashes of a text.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted arrays of distinct values (0.0 when both are empty)."""
    if len(a) > len(b):
        a, b = b, a
    if not len(a):
        return 0.0
    pos = np.searchsorted(b, a)
    pos[pos == len(b)] = 0
    inter = int(np.count_nonzero(b[pos] == a))
    return inter / (len(a) + len(b) - inter)


def verified(a: np.ndarray, b: np.ndarray, threshold: float) -> float | None:
    """The exact Jaccard of two shingle sets if it reaches ``threshold``, else None."""
    # |A∩B| <= min(|A|,|B|), so the sizes alone rule out pairs whose smaller set is too small.
    small, big = sorted((len(a), len(b)))
    if not big or small < threshold * big - 1e-9:
        return None
    s = jaccard(a, b)
    return s if s >= threshold else None


def verify_pairs(pairs: np.ndarray, set_of: Callable[[int], np.ndarray], threshold: float,
                 set_of_right: Callable[[int], np.ndarray] | None = None) -> list[tuple[int, int, float]]:
    """The pairs whose exact Jaccard is >= threshold, with that Jaccard.

    ``set_of(i)`` gives the sorted shingle set of item i (``set_of_right`` for the second column when the two
    columns index different collections).
    """
    right = set_of_right or set_of
    out = []
    for i, j in pairs.tolist():
        s = verified(set_of(i), right(j), threshold)
        if s is not None:
            out.append((i, j, s))
    return out


class SetCache:
    """Sorted distinct shingle hashes per item, computed on first use (most items are never compared)."""

    def __init__(self, make: Callable[[int], np.ndarray]):
        self._make = make
        self._sets: dict[int, np.ndarray] = {}

    def __call__(self, i: int) -> np.ndarray:
        s = self._sets.get(i)
        if s is None:
            s = self._sets[i] = self._make(i)
        return s
