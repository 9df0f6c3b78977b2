"""The source catalog: which drops exist for each raw source, and turning one drop into canonical examples.

Two roots: drops embedded in the repository (``sample_root``) and drops that arrive later (``incoming_root``,
watched by a sensor). A drop in the incoming root replaces an embedded drop with the same key (a re-delivery
of a corrected drop).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from resources.schema import SOURCES
from resources.sources.drops import display_name, drop_contents, find_drops
from resources.sources.formats import FORMATS
from resources.sources.ingest import DropSummary, ingest
from resources.storage import content_hash


class SourceCatalog(dg.ConfigurableResource):
    """Where raw source drops live and how each source is read."""

    sample_root: str = "data/samples"       # embedded drops
    incoming_root: str = "data/incoming"    # drops that arrive later (watched by sensors)
    teacher_min_score: float = 0.7
    max_row_bytes: int = 1_000_000
    formats: dict[str, str] = {}            # per source: "auto"|"chat"|"alpaca"|"prompt_completion"|"sharegpt"
    # annotation task -> the instruction its examples are prompted with (adds to / overrides rules.TASK_INSTRUCTIONS)
    task_instructions: dict[str, str] = {}
    # a drop rejecting a larger share of its rows warns in the UI (all rows rejected is an error)
    reject_warn_rate: float = 0.05

    def list_drops(self, source: str) -> dict[str, Path]:
        """Drop key -> file or folder, from both roots (incoming wins on equal keys), sorted by key."""
        self._check_source(source)
        drops = find_drops(Path(self.sample_root) / source)
        drops.update(find_drops(Path(self.incoming_root) / source))
        return dict(sorted(drops.items()))

    def format_of(self, source: str) -> str:
        fmt = self.formats.get(source, "auto")
        if fmt != "auto" and fmt not in FORMATS:
            raise ValueError(f"SourceCatalog.formats[{source!r}] = {fmt!r} is not a format; "
                             f"use auto or one of {', '.join(FORMATS)}")
        return fmt

    def ingest_drop(self, source: str, drop: str, out_dir: Path,
                    tombstones: frozenset[str] = frozenset()) -> DropSummary:
        """Write ``out_dir/examples.parquet`` and ``out_dir/ledger.parquet`` for one drop (atomically, together)."""
        drops = self.list_drops(source)
        if drop not in drops:
            known = ", ".join(drops) or "none"
            raise KeyError(f"{source}: no drop {drop!r} under {self.sample_root} or {self.incoming_root} "
                           f"(known: {known}); was it renamed or removed after the partition was added?")
        path = drops[drop]
        # a drop lives at <root>/<source>/<name>: its root is the data folder nothing may lead out of
        return ingest(source, drop, drop_contents(path, path.parent.parent), out_dir, fmt=self.format_of(source),
                      teacher_min_score=self.teacher_min_score, max_row_bytes=self.max_row_bytes,
                      tombstones=frozenset(tombstones), task_instructions=self.task_instructions,
                      name=display_name(path.name))

    def delivery(self, source: str, drop: str) -> str:
        """Where a drop is read from now and a hash of what it holds: a corrected re-delivery changes it."""
        path = self.list_drops(source).get(drop)
        if path is None:
            return ""  # ingest_drop says what is wrong
        readable = [p for p, refused in drop_contents(path, path.parent.parent) if not refused]
        return f"{path}:{content_hash(*readable)}"

    @staticmethod
    def _check_source(source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
