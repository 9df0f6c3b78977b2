"""What a drop reader yields per input row: a record to apply the source rules to, or a rejection with its reason.

``line`` is the 1-based physical line (JSONL, and the first line of a CSV record; the CSV header is line 1) or the
1-based row index (Parquet); 0 means the file as a whole could not be read. Rejection reasons start with a short
category ("invalid JSON", "row too large", ...) followed by ": detail"; summaries count the category.
"""

from __future__ import annotations

from typing import Any, NamedTuple


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


def too_large(size: int, max_row_bytes: int) -> str:
    return f"row too large: {size} bytes, max_row_bytes={max_row_bytes}"
