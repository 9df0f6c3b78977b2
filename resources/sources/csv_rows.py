"""CSV drops: a header line, then one record per row (quoted fields may span lines); all values are strings.

Parsed strictly (a closing quote must be followed by a delimiter or the line end), because a quote that is never
closed otherwise swallows every row after it into one field. When a record spanning several lines fails to
parse, only its first line is rejected and reading starts again on the next line, so the rows after an unclosed
quote are read, not lost. A first line that names none of the columns the source rules read is not taken for a
header (a header-less export would otherwise lose its first row as column names): every row is then rejected.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Iterator

from resources.sources.rows import Rejection, Row, too_large


class _Lines:
    """The file's lines, remembering those of the record being parsed so its later lines can be read again."""

    def __init__(self, fh):
        self._fh = fh
        self.back: list[str] = []   # lines to hand out again, last one first
        self.taken: list[str] = []  # lines the current record has consumed

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.back.pop() if self.back else next(self._fh)
        self.taken.append(line)
        return line


def read_csv(path: Path, max_row_bytes: int = 1_000_000, known_columns: Iterable[str] = (),
             stats: dict | None = None) -> Iterator[Row | Rejection]:
    """Rows of one CSV file; ``stats`` gets ``skipped`` (header, leading blank lines) and ``continuation`` (the
    second and later lines of multi-line records), so physical lines = skipped + continuation + items."""
    # the csv module's field limit is process-wide; raise it to our own per-row limit, which we enforce below
    if csv.field_size_limit() < max_row_bytes + 1:
        csv.field_size_limit(max_row_bytes + 1)
    stats = {} if stats is None else stats
    stats.update(skipped=0, continuation=0)
    # surrogateescape keeps bad bytes as lone surrogates, so one bad row is rejected and the rest still parse;
    # utf-8-sig drops the byte order mark spreadsheet exports start with
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        yield from _records(path.name, _Lines(fh), max_row_bytes, {c.lower() for c in known_columns}, stats)


def _records(name: str, lines: _Lines, max_row_bytes: int, known: set[str], stats: dict
             ) -> Iterator[Row | Rejection]:
    header: list[str] | None = None
    no_header = ""
    reader = csv.reader(lines, strict=True)
    end = 0  # physical line where the previous record ended
    while True:
        lines.taken = []
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if not lines.taken:
                return
            lines.back.extend(reversed(lines.taken[1:]))  # read again from the record's second line
            end = start
            reader = csv.reader(lines, strict=True)
            big = "field larger than field limit" in str(e)
            yield Rejection(name, start, too_large(len(lines.taken[0].encode("utf-8", "surrogateescape")),
                                                   max_row_bytes) if big and len(lines.taken) == 1
                            else f"unparseable CSV: {e}" + ("; a quote opened on this line is never closed "
                                                            "properly" if len(lines.taken) > 1 else ""))
            continue
        end = start + len(lines.taken) - 1
        if header is None and not no_header:
            stats["skipped"] += len(lines.taken)
            if not fields or not any(f.strip() for f in fields):
                continue  # leading blank lines before the header carry nothing
            # a mis-encoded header name cannot match a field the rules need, so its rows fail as "missing field"
            header = [f.strip().encode("utf-8", "surrogateescape").decode("utf-8", "replace") for f in fields]
            if known and not known & {h.lower() for h in header}:
                stats["skipped"] -= len(lines.taken)  # the line is a row now, rejected like the rest
                no_header = (f"no header: line {start} names none of the columns the rules read "
                             f"({', '.join(sorted(known)[:6])}, ...); add the header line")
                header = None
            else:
                continue
        stats["continuation"] += len(lines.taken) - 1
        if no_header:
            yield Rejection(name, start, no_header)
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            yield Rejection(name, start, "blank line")
            continue
        size = sum(len(f.encode("utf-8", errors="surrogateescape")) for f in fields)
        if size > max_row_bytes:
            yield Rejection(name, start, too_large(size, max_row_bytes))
            continue
        if any("\udc80" <= ch <= "\udcff" for f in fields for ch in f):
            yield Rejection(name, start, "undecodable bytes: row is not UTF-8")
            continue
        if len(fields) != len(header):
            yield Rejection(name, start, f"wrong column count: expected {len(header)} ({','.join(header)}), "
                                         f"found {len(fields)}")
            continue
        yield Row(name, start, dict(zip(header, fields)))
