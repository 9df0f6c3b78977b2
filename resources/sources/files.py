"""Robust readers for drop files: every data row comes out either as a record or as a rejection, never a crash.

Sources are written by other systems (chat exports, spreadsheets, annotation tools, a teacher model), so any
line may be truncated, mis-encoded or of the wrong shape. A reader yields ``Row(file, line, record)`` for each
readable object and ``Rejection(file, line, reason)`` for everything else (``resources/sources/rows.py``), so the
caller can account for every row. ``physical_records`` counts a file's lines or records on its own, without the
readers, so the row accounting can hold the ledger against what the file really holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Iterator

from resources.sources.csv_rows import read_csv
from resources.sources.jsonl import read_jsonl
from resources.sources.rows import Rejection, Row, reason_category, too_large

SUFFIXES = (".jsonl", ".csv", ".parquet")
__all__ = ["SUFFIXES", "Rejection", "Row", "looks_binary", "physical_records", "read_csv", "read_jsonl",
           "read_parquet", "read_rows", "reason_category"]


def read_rows(path: Path | str, max_row_bytes: int = 1_000_000, known_columns: Iterable[str] = (),
              stats: dict | None = None) -> Iterator[Row | Rejection]:
    """Rows of one drop file, chosen by suffix; rows larger than ``max_row_bytes`` are rejected unparsed.

    ``known_columns`` are the fields the source rules read (a CSV header must name one); ``stats`` receives the
    physical lines that are not rows (``skipped``: a CSV header) or continue one (``continuation``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if stats is not None:
        stats.update(skipped=0, continuation=0)
    if suffix == ".jsonl":
        return read_jsonl(path, max_row_bytes)
    if suffix == ".csv":
        return read_csv(path, max_row_bytes, known_columns, stats)
    if suffix == ".parquet":
        return read_parquet(path, max_row_bytes)
    raise ValueError(f"{path}: unsupported file type {suffix!r}; drops must be one of {', '.join(SUFFIXES)}")


def physical_records(path: Path | str) -> int | None:
    """Lines of a text file (ends: \\n, \\r\\n or a lone \\r) or rows of a Parquet file by its footer; None when
    the footer cannot be read."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        if path.stat().st_size == 0:
            return 0
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # noqa: BLE001 - a corrupt footer, whatever pyarrow calls it, means "unknown"
            return None
    lines, last, cr = 0, b"", False
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n") - (cr and chunk[:1] == b"\n")
            cr, last = chunk.endswith(b"\r"), chunk[-1:]
    return lines + (1 if last and last not in b"\r\n" else 0)


def looks_binary(path: Path | str, sniff: int = 8000) -> bool:
    """A text drop (JSONL, CSV) with a NUL byte near its start is binary: an image, an archive, UTF-16 text.

    The same test git and grep use; valid JSON never holds a raw NUL, nor does a CSV any spreadsheet writes.
    Parquet is binary by design; an unreadable one is reported by its reader instead.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return False
    with open(path, "rb") as fh:
        return b"\0" in fh.read(sniff)


def _plain(value: Any) -> Any:
    """Parquet cells as JSON-like Python values (timestamps as ISO strings, NaN as None)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def read_parquet(path: Path, max_row_bytes: int = 1_000_000) -> Iterator[Row | Rejection]:
    """Row by row through record batches, so a large file is never held in memory twice."""
    import pyarrow.parquet as pq

    name = path.name
    if path.stat().st_size == 0:
        return
    index = 0
    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                index += 1
                record = {str(k): _plain(v) for k, v in record.items()}
                bad = [k for k, v in record.items() if isinstance(v, bytes)]
                if bad:
                    yield Rejection(name, index, f"undecodable bytes: column {bad[0]} is not UTF-8")
                    continue
                size = len(json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
                if size > max_row_bytes:
                    yield Rejection(name, index, too_large(size, max_row_bytes))
                    continue
                yield Row(name, index, record)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for corrupt files; all mean "unreadable"
        where = f"after row {index}" if index else "file"
        yield Rejection(name, index + 1 if index else 0,
                        f"unreadable Parquet: {where}: {type(e).__name__}: {e}"[:300])
