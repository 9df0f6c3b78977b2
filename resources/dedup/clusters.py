"""Duplicate clusters (transitive, union-find) and the rule that picks the one row each cluster keeps.

Survivor rule, in order: the most trusted source (``source_priority``, first = best; unknown sources last),
then the newest ``created_at`` (missing or unparsable timestamps count as oldest), then the smallest id, so the
same rows always give the same survivor whatever order they arrive in.
"""

from __future__ import annotations

import math
from typing import Sequence


class UnionFind:
    def __init__(self, n: int = 0):
        self.parent = list(range(n))

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for x in range(len(self.parent)):
            out.setdefault(self.find(x), []).append(x)
        return out


def timestamps(values: Sequence[object]) -> list[float]:
    """Seconds since the epoch for each ISO timestamp; NaN where missing or unparsable."""
    import pandas as pd

    parsed = pd.to_datetime(pd.Series(list(values), dtype="object").astype("string"),
                            utc=True, errors="coerce", format="ISO8601")
    return [float("nan") if pd.isna(t) else t.timestamp() for t in parsed]


class SurvivorRule:
    def __init__(self, source_priority: Sequence[str]):
        self._rank = {s: i for i, s in enumerate(source_priority)}

    def key(self, source: object, created_at_seconds: float, item_id: str) -> tuple:
        rank = self._rank.get(source if isinstance(source, str) else "", len(self._rank))
        newest_first = -created_at_seconds if not math.isnan(created_at_seconds) else math.inf
        return (rank, newest_first, item_id)
