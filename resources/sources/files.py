"""Robust readers for drop files: every data row comes out either as a record or as a rejection, never a crash.

Sources are written by other systems (chat exports, spreadsheets, annotation tools, a teacher model), so any
line may be truncated, mis-encoded or of the wrong shape. A reader yields ``Row(file, line, record)`` for each
readable object and ``Rejection(file, line, reason)`` for everything else, so the caller can account for every
row. ``line`` is the 1-based physical line (JSONL, and the first line of a CSV record; the CSV header is line
1) or the 1-based row index (Parquet); 0 means the file as a whole could not be read.

Rejection reasons start with a short category ("invalid JSON", "row too large", ...) followed by ": detail";
summaries count the category.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterator, NamedTuple

SUFFIXES = (".jsonl", ".csv", ".parquet")


class Row(NamedTuple):
    file: str
    line: int
    record: dict[str, Any]


class Rejection(NamedTuple):
    file: str
    line: int
    reason: str


def reason_category(reason: str) -> str:
    return reason.split(":", 1)[0]


def read_rows(path: Path | str, max_row_bytes: int = 1_000_000) -> Iterator[Row | Rejection]:
    """Rows of one drop file, chosen by suffix; rows larger than ``max_row_bytes`` are rejected unparsed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path, max_row_bytes)
    if suffix == ".csv":
        return read_csv(path, max_row_bytes)
    if suffix == ".parquet":
        return read_parquet(path, max_row_bytes)
    raise ValueError(f"{path}: unsupported file type {suffix!r}; drops must be one of {', '.join(SUFFIXES)}")


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


def _too_large(size: int, max_row_bytes: int) -> str:
    return f"row too large: {size} bytes, max_row_bytes={max_row_bytes}"


def _object_or_reason(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"not a JSON object: found {type(value).__name__}"
    return None


def read_jsonl(path: Path, max_row_bytes: int = 1_000_000) -> Iterator[Row | Rejection]:
    """One JSON object per line. Blank lines are rejected too, so every physical line is accounted for."""
    name = path.name
    with open(path, "rb") as fh:
        line = 0
        while True:
            # readline with a limit keeps memory bounded when a single line is enormous
            raw = fh.readline(max_row_bytes + 2)
            if not raw:
                return
            line += 1
            if not raw.endswith(b"\n") and len(raw) > max_row_bytes:
                size = len(raw)
                while chunk := fh.readline(1 << 20):  # skip the rest of the over-long line
                    if chunk.endswith(b"\n"):
                        size += len(chunk) - 1
                        break
                    size += len(chunk)
                yield Rejection(name, line, _too_large(size, max_row_bytes))
                continue
            body = raw.rstrip(b"\r\n")
            if len(body) > max_row_bytes:
                yield Rejection(name, line, _too_large(len(body), max_row_bytes))
                continue
            if line == 1 and body.startswith(b"\xef\xbb\xbf"):
                body = body[3:]  # a UTF-8 byte order mark from Windows exports
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Rejection(name, line, f"undecodable bytes: not UTF-8 at byte {e.start}")
                continue
            if not text.strip():
                yield Rejection(name, line, "blank line")
                continue
            try:
                value = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as e:
                yield Rejection(name, line, f"invalid JSON: {e}"[:300])
                continue
            if (why := _object_or_reason(value)) is not None:
                yield Rejection(name, line, why)
                continue
            yield Row(name, line, value)


def read_csv(path: Path, max_row_bytes: int = 1_000_000) -> Iterator[Row | Rejection]:
    """A header line, then one record per row (quoted fields may span lines); all values are strings."""
    name = path.name
    # the csv module's field limit is process-wide; raise it to our own per-row limit, which we enforce below
    if csv.field_size_limit() < max_row_bytes + 1:
        csv.field_size_limit(max_row_bytes + 1)
    # surrogateescape keeps bad bytes as lone surrogates, so one bad row is rejected and the rest still parse;
    # utf-8-sig drops the byte order mark spreadsheet exports start with
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        yield from _csv_rows(name, csv.reader(fh, strict=False), max_row_bytes)


def _csv_rows(name: str, reader, max_row_bytes: int) -> Iterator[Row | Rejection]:
    header: list[str] | None = None
    end = 0  # physical line where the previous record ended
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield Rejection(name, start, f"unparseable CSV: {e}"[:300])
            if reader.line_num <= end:
                return  # the reader cannot move past this point; stop rather than loop forever
            end = reader.line_num
            continue
        end = reader.line_num
        if header is None:
            if not fields or not any(f.strip() for f in fields):
                continue  # leading blank lines before the header carry nothing
            # a mis-encoded header name cannot match a field the rules need, so its rows fail as "missing field"
            header = [f.strip().encode("utf-8", "surrogateescape").decode("utf-8", "replace") for f in fields]
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            yield Rejection(name, start, "blank line")
            continue
        size = sum(len(f.encode("utf-8", errors="surrogateescape")) for f in fields)
        if size > max_row_bytes:
            yield Rejection(name, start, _too_large(size, max_row_bytes))
            continue
        if _has_surrogates("".join(fields)):
            yield Rejection(name, start, "undecodable bytes: row is not UTF-8")
            continue
        if len(fields) != len(header):
            yield Rejection(name, start, f"wrong column count: expected {len(header)} ({','.join(header)}), "
                                         f"found {len(fields)}")
            continue
        yield Row(name, start, dict(zip(header, fields)))


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


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
                    yield Rejection(name, index, _too_large(size, max_row_bytes))
                    continue
                yield Row(name, index, record)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for corrupt files; all mean "unreadable"
        where = f"after row {index}" if index else "file"
        yield Rejection(name, index + 1 if index else 0,
                        f"unreadable Parquet: {where}: {type(e).__name__}: {e}"[:300])
