"""The tombstone list: source row ids erased on request, applied by the source assets on every read.

Original source files are never edited in place; a row whose id is tombstoned is accounted as
``filtered`` with reason ``erased`` and never reaches a training set again.
"""

from __future__ import annotations

from pathlib import Path

from resources.layout import Layout


def load_tombstones(artifact_root: Path | str) -> frozenset[str]:
    path = Layout(artifact_root).tombstones()
    if not path.exists():
        return frozenset()
    import pandas as pd

    return frozenset(pd.read_parquet(path, columns=["id"])["id"].astype(str))
