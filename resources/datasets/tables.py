"""Reading the prepared tables one stage leaves for the next."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from resources.layout import Layout
from resources.schema import EXAMPLE_COLUMNS, LEDGER_COLUMNS, SOURCES


def read_table(folder: Path, name: str, columns) -> pd.DataFrame:
    path = folder / name
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.read_parquet(path)


def all_source_rows(layout: Layout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Examples and ledgers of every ingested drop of every source."""
    examples, ledgers = [], []
    for source in SOURCES:
        for drop_dir in layout.source_drops(source):
            examples.append(read_table(drop_dir, "examples.parquet", EXAMPLE_COLUMNS))
            ledgers.append(read_table(drop_dir, "ledger.parquet", LEDGER_COLUMNS))
    if not examples:
        return (pd.DataFrame({c: [] for c in EXAMPLE_COLUMNS}), pd.DataFrame({c: [] for c in LEDGER_COLUMNS}))
    ex = pd.concat(examples, ignore_index=True).sort_values("id", kind="stable").reset_index(drop=True)
    led = pd.concat(ledgers, ignore_index=True)
    return ex, led
