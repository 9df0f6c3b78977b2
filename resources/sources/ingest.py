"""Ingest one drop: read every row, apply the source rule, write examples and the row ledger together.

Row numbers: in a single-file drop the row is the file's line (CSV records by their first line, Parquet by
1-based index), so an id leads straight back to a line. In a folder drop rows are numbered 1.. across its
files in name order (drops are immutable once published; the ledger keeps each row's file and line).
Line/row 0 stands for a file that could not be read at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from resources.schema import (EXAMPLE_COLUMNS, FILTERED, KEPT, LEDGER_COLUMNS, REJECTED, ledger_entry, make_example,
                              row_id)
from resources.sources.drops import display_name
from resources.sources.files import Rejection, Row, looks_binary, physical_records, read_rows, reason_category
from resources.sources.limits import limit_reason, too_deep
from resources.sources.model_outputs import COLUMNS as OUTPUT_COLUMNS, MODEL_OUTPUTS, SOURCE as CORRECTIONS, output_row
from resources.sources.rules import FIELD_NAMES, Outcome, apply_rule, filtered, rejected
from resources.storage import atomic_dir, content_hash, write_json

STAGE = "source"
ERASED = "erased"
_INT_COLUMNS = {"row", "line"}
FIRST_REJECTIONS = 20  # rejected rows kept in the summary for the checks' "first rejected lines"
FILES_MANIFEST = "files.json"  # per file: physical lines/records, header lines, rows read (the accounting check)


@dataclass
class DropSummary:
    """What happened to one drop; the asset reports it as metadata."""

    source: str
    drop: str
    name: str = ""                                        # the drop's file or folder name as delivered
    rows_in: int = 0
    kept: int = 0
    filtered: Counter = field(default_factory=Counter)    # reason category -> rows
    rejected: Counter = field(default_factory=Counter)    # reason category -> rows
    tasks: Counter = field(default_factory=Counter)       # task -> kept rows
    score_histogram: list[tuple[str, int]] = field(default_factory=list)  # teacher data only
    warnings: list[str] = field(default_factory=list)
    rejections: list[tuple[str, int, str]] = field(default_factory=list)    # first (file, line, reason)
    file_problems: list[tuple[str, str]] = field(default_factory=list)      # (file, why it is unusable)
    files: list[dict] = field(default_factory=list)                          # the files.json manifest
    content_hash: str = ""
    examples_path: Path | None = None
    ledger_path: Path | None = None

    def accounted(self) -> bool:
        return self.rows_in == self.kept + sum(self.filtered.values()) + sum(self.rejected.values())


def score_histogram(scores: Iterable[float], buckets: int = 10) -> list[tuple[str, int]]:
    counts = [0] * buckets
    for s in scores:
        counts[min(int(s * buckets), buckets - 1)] += 1
    return [(f"{i / buckets:.1f}-{(i + 1) / buckets:.1f}", n) for i, n in enumerate(counts)]


def _entries(files: list) -> list[tuple[Path, str]]:
    """(path, refusal reason) pairs; plain paths (tests, provenance tools) are files to read."""
    return [(Path(f), "") if isinstance(f, (str, Path)) else (Path(f[0]), f[1]) for f in files]


def _items(path: Path, name: str, refused: str, max_row_bytes: int, stats: dict) -> Iterator[Row | Rejection]:
    if refused:
        yield Rejection(name, 0, refused)
        return
    for item in read_rows(path, max_row_bytes, known_columns=FIELD_NAMES, stats=stats):
        yield item._replace(file=name)


def _outcome(source: str, item: Row | Rejection, rid: str, tombstones: frozenset[str], **rule) -> Outcome:
    if rid in tombstones:
        return filtered(f"{ERASED}: listed in the erasure tombstones")
    if isinstance(item, Rejection):
        return rejected(item.reason)
    if too_deep(item.record):
        return rejected(limit_reason(item.record))
    try:
        outcome = apply_rule(source, item.record, **rule)
    except RecursionError:  # the depth check above makes this unreachable for parsed JSON; kept as the backstop
        return rejected("too deeply nested: a value nests too deep to read")
    if outcome.state == KEPT and (why := limit_reason(outcome.task, outcome.messages, outcome.created_at)):
        return rejected(why)
    return outcome


def ingest(source: str, drop: str, files: list, out_dir: Path | str, *, fmt: str = "auto",
           teacher_min_score: float = 0.7, max_row_bytes: int = 1_000_000,
           tombstones: frozenset[str] = frozenset(), task_instructions: Mapping[str, str] | None = None,
           name: str = "") -> DropSummary:
    """Read ``files`` (one drop of ``source``) and publish ``out_dir/examples.parquet`` + ``ledger.parquet``.

    ``files`` are paths, or (path, refusal reason) pairs from ``drops.drop_contents``: a refused entry is one
    rejected row (line 0) with its reason. ``files.json`` beside them records each file's physical lines or
    records, counted without the readers, for the row accounting check.
    """
    summary = DropSummary(source=source, drop=drop, name=name or drop)
    rule = dict(fmt=fmt, teacher_min_score=teacher_min_score, task_instructions=task_instructions)
    examples: list[dict] = []
    ledger: list[dict] = []
    outputs: list[dict] = []  # corrected_outputs only: the model output each kept correction replaced
    scores: list[float] = []
    entries = _entries(files)
    counter = 0
    for path, refused in entries:
        items, stats, fname = 0, {}, display_name(path.name)
        for item in _items(path, fname, refused, max_row_bytes, stats):
            items += 1
            counter += 1
            row = item.line if len(entries) == 1 else counter
            rid = row_id(source, drop, row)
            outcome = _outcome(source, item, rid, tombstones, **rule)
            _record(summary, outcome, scores)
            if outcome.state == REJECTED and len(summary.rejections) < FIRST_REJECTIONS:
                summary.rejections.append((item.file, item.line, outcome.reason))
            if isinstance(item, Rejection) and (refused or reason_category(item.reason).startswith("unreadable")):
                summary.file_problems.append((fname, item.reason))
            ledger.append(ledger_entry(id=rid, source=source, drop=drop, file=item.file, line=item.line,
                                       state=outcome.state, reason=outcome.reason, stage=STAGE))
            if outcome.state == KEPT:
                examples.append(make_example(source=source, drop=drop, row=row, task=outcome.task,
                                             messages=outcome.messages, created_at=outcome.created_at))
                if source == CORRECTIONS:
                    outputs.append(output_row(rid, item.record))
        summary.files.append({"file": fname, "refused": bool(refused), "rows": items,
                              "physical": None if refused else physical_records(path),
                              "skipped": stats.get("skipped", 0), "continuation": stats.get("continuation", 0)})
        if refused:
            continue
        if items == 0:
            summary.warnings.append(f"{fname} holds no rows (empty file?)")
            summary.file_problems.append((fname, "empty file: holds no rows"))
        elif looks_binary(path):
            summary.file_problems.append((fname, f"binary file: not {path.suffix.lstrip('.').upper()} text; "
                                                 f"was the wrong file exported?"))
    if source == "teacher_synthetic":
        summary.score_histogram = score_histogram(scores)

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        _write(tmp / "examples.parquet", examples, EXAMPLE_COLUMNS)
        _write(tmp / "ledger.parquet", ledger, LEDGER_COLUMNS)
        write_json(tmp / FILES_MANIFEST, {"drop": drop, "name": summary.name, "files": summary.files})
        if source == CORRECTIONS:
            _write(tmp / MODEL_OUTPUTS, outputs, OUTPUT_COLUMNS)
    summary.examples_path, summary.ledger_path = out_dir / "examples.parquet", out_dir / "ledger.parquet"
    # the model outputs count too: a re-delivery that changes only them changes the preference pairs
    hashed = [summary.examples_path, summary.ledger_path] + ([out_dir / MODEL_OUTPUTS] if source == CORRECTIONS else [])
    summary.content_hash = content_hash(*hashed)
    return summary


def _record(summary: DropSummary, outcome: Outcome, scores: list[float]) -> None:
    summary.rows_in += 1
    if outcome.score is not None and not outcome.reason.startswith(ERASED):
        scores.append(outcome.score)
    if outcome.state == KEPT:
        summary.kept += 1
        summary.tasks[outcome.task] += 1
    elif outcome.state == FILTERED:
        summary.filtered[reason_category(outcome.reason)] += 1
    else:
        summary.rejected[reason_category(outcome.reason)] += 1


def _write(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Parquet with an explicit schema, so an empty drop still has typed columns and equal data hashes equal."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in columns])
    # lone surrogates cannot be stored as UTF-8; readers reject such rows, this is the last line of defence
    table = pa.table({c: pa.array([_cell(r[c], c) for r in rows], schema.field(c).type) for c in columns},
                     schema=schema)
    pq.write_table(table, path, compression="zstd", write_statistics=False)


def _cell(value, column: str):
    if column in _INT_COLUMNS:
        return int(value)
    return str(value).encode("utf-8", "replace").decode("utf-8")
