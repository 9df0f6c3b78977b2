"""What became of one source row: its line in the row ledger (kept, duplicate of X, filtered or rejected, why).

``privft provenance --record`` says this first, so an id that names no input row is reported as unknown instead
of being searched for and "found" in nothing, and a rejected or filtered row says why it never reached training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

LEDGERS = ("prepared/datasets/ledger.parquet",)  # every input row of the current prepared data
SOURCE_LEDGERS = "sources/*/*/ledger.parquet"     # per drop: rows of drops no longer in the prepared data


def ledger_state(artifact_root: Path | str, record_id: str) -> Optional[dict[str, Any]]:
    """The ledger row of ``record_id`` (prepared ledger first, then the per-drop ones), or None if no ledger has it."""
    import pyarrow.parquet as pq

    root = Path(artifact_root)
    paths = [root / p for p in LEDGERS] + sorted(root.glob(SOURCE_LEDGERS))
    for path in paths:
        if not path.is_file():
            continue
        table = pq.read_table(path, filters=[("id", "=", record_id)])
        if table.num_rows:
            row = table.slice(0, 1).to_pylist()[0]
            return {k: row.get(k) for k in ("id", "state", "reason", "duplicate_of", "stage", "file", "line")} | {
                "ledger": str(path)}
    return None


def example_ids(artifact_root: Path | str, limit: int = 3) -> list[str]:
    """A few real record ids, to show what one looks like."""
    import pyarrow.parquet as pq

    path = Path(artifact_root) / LEDGERS[0]
    if not path.is_file():
        return []
    return pq.read_table(path, columns=["id"]).slice(0, limit).column("id").to_pylist()


def state_line(state: dict[str, Any]) -> str:
    """One sentence for the operator."""
    where = f"{state.get('file')}, line {state.get('line')}" if state.get("file") else state["ledger"]
    if state["state"] == "kept":
        return f"{state['id']}: kept ({where})"
    if state["state"] == "duplicate":
        return (f"{state['id']}: {state.get('reason') or 'duplicate'} of {state.get('duplicate_of')} ({where}); "
                f"it is in whatever {state.get('duplicate_of')} is in")
    verb = "rejected" if state["state"] == "rejected" else "filtered out"
    return (f"{state['id']}: {verb} at the {state.get('stage')} stage: {state.get('reason')} ({where}); "
            "it never reached a training set")
