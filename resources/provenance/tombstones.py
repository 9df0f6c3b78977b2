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


def add_tombstones(artifact_root: Path | str, ids: list[str] | set[str], *, request_id: str,
                   erased_at: str) -> list[str]:
    """Append ``ids`` to the tombstone list (columns id, request_id, erased_at); returns the ids that were new.

    The whole list is rewritten atomically under a lock, so a reader sees the old or the new list, and two
    requests applied at once both land. An id already tombstoned keeps its first request id.
    """
    import pandas as pd

    from resources.provenance.locking import locked
    from resources.storage import write_parquet

    path = Layout(artifact_root).tombstones()
    with locked(path.parent, ".tombstones.lock"):
        current = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=["id", "request_id", "erased_at"])
        for column in ("request_id", "erased_at"):
            if column not in current.columns:
                current[column] = ""  # a hand-made list with ids only
        known = set(current["id"].astype(str))
        new = sorted(set(map(str, ids)) - known)
        if new:
            added = pd.DataFrame({"id": new, "request_id": request_id, "erased_at": erased_at})
            frame = pd.concat([current[["id", "request_id", "erased_at"]].astype(str), added], ignore_index=True)
            write_parquet(path, frame.sort_values("id").reset_index(drop=True))
    return new
