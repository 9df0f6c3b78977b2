"""JSON Lines drops: one JSON object per physical line, every line accounted for.

Line ends are ``\\n``, ``\\r\\n`` or a lone ``\\r`` (old Mac exports): JSON forbids a raw CR inside a string, so
splitting on it never cuts a valid record, while ignoring it would read a whole CR-only file as one broken line.
Lines are read in bounded chunks, so one enormous line never sits in memory whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from resources.sources.rows import Rejection, Row, too_large

_EOL = re.compile(rb"\r\n|\r|\n")


def physical_lines(fh: BinaryIO, limit: int, chunk: int = 1 << 20) -> Iterator[tuple[bytes | None, int]]:
    """(line without its end, size in bytes) per physical line; a line longer than ``limit`` comes as None."""
    cur, size, skip_lf = bytearray(), 0, False
    while data := fh.read(chunk):
        if skip_lf and data[:1] == b"\n":
            data = data[1:]  # the \n of a \r\n split across two chunks
        pos = 0
        for m in _EOL.finditer(data):
            size += m.start() - pos
            if size <= limit:
                cur += data[pos:m.start()]
            yield (bytes(cur) if size <= limit else None), size
            cur, size, pos = bytearray(), 0, m.end()
        size += len(data) - pos
        cur = cur + data[pos:] if size <= limit else bytearray()
        skip_lf = data.endswith(b"\r")
    if size:
        yield (bytes(cur) if size <= limit else None), size


def read_jsonl(path: Path, max_row_bytes: int = 1_000_000) -> Iterator[Row | Rejection]:
    """One JSON object per line. Blank lines are rejected too, so every physical line is accounted for."""
    name = path.name
    with open(path, "rb") as fh:
        for line, (body, size) in enumerate(physical_lines(fh, max_row_bytes), start=1):
            if body is None:
                yield Rejection(name, line, too_large(size, max_row_bytes))
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
            if not isinstance(value, dict):
                yield Rejection(name, line, f"not a JSON object: found {type(value).__name__}")
                continue
            yield Row(name, line, value)
