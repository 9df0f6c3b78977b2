"""Physical accounting: hold the final ledger against what each drop file physically holds.

The ledger alone can only show that every row a reader *yielded* got a state; a reader that swallowed rows (an
unclosed CSV quote, CR-only line ends read as one line) yields fewer and still balances. So ingest records, per
file, its lines or Parquet records counted without the readers (``files.json``, ``ingest.FILES_MANIFEST``), the
lines that are not rows (CSV header) and the lines that continue a multi-line CSV record, and here

    ledger rows of the file == physical - skipped - continuation

must hold for every file. A refused entry (symlink out of the data folder, sub-folder, compressed file) is one
ledger row; a file whose Parquet footer is unreadable has no physical count and is reported by the source check
``files_readable`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from resources.schema import SOURCES
from resources.sources.ingest import FILES_MANIFEST

COLUMNS = ["source", "drop", "file", "physical", "not_rows", "expected", "ledger", "balanced"]


def physical_accounting(drop_dirs: dict[str, list[Path]], ledger: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(per-file table, problems) for the ingested drops ``{source: [drop folder, ...]}``."""
    counts = ledger.groupby(["source", "drop", "file"]).size().to_dict() if len(ledger) else {}
    rows, problems = [], []
    for source in SOURCES:
        for folder in drop_dirs.get(source, []):
            manifest = folder / FILES_MANIFEST
            if not manifest.exists():
                problems.append(f"{source}/{folder.name}: no {FILES_MANIFEST} (ingested by an older version); "
                                f"re-materialise this partition so its rows can be counted")
                continue
            for f in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
                got = int(counts.get((source, folder.name, f["file"]), 0))
                not_rows = int(f.get("skipped", 0)) + int(f.get("continuation", 0))
                if f.get("refused"):
                    expected = 1
                elif f.get("physical") is None:
                    expected = got  # unreadable: files_readable names it; nothing to count against
                else:
                    expected = int(f["physical"]) - not_rows
                ok = got == expected
                if not ok:
                    problems.append(f"{source}/{folder.name}/{f['file']}: the file holds {expected} rows "
                                    f"({f.get('physical')} lines/records, {not_rows} header or continuation lines) "
                                    f"but the ledger has {got}; "
                                    f"{'rows were lost in reading' if got < expected else 'rows were counted twice'}")
                rows.append({"source": source, "drop": folder.name, "file": f["file"], "physical": f.get("physical"),
                             "not_rows": not_rows, "expected": expected, "ledger": got, "balanced": ok})
    return pd.DataFrame(rows, columns=COLUMNS), problems
