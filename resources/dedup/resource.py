"""The dedup engine as a Dagster resource (section ``dedup`` of privft.yaml): its fields are ``DedupSettings``'s,
the work is ``DedupEngine``'s; nothing else lives here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from resources.dedup.engine import DedupEngine
from resources.dedup.index import IndexSettings
from resources.dedup.settings import DedupSettings
from resources.settings_resource import settings_resource


class Deduplicator(settings_resource(DedupSettings)):
    """Exact and near-duplicate removal (MinHash LSH + exact Jaccard); see resources/dedup/engine.py."""

    def engine(self) -> DedupEngine:
        return DedupEngine(**vars(self.settings()))

    def deduplicate(self, items: pd.DataFrame, index_dir: Path | str | None = None) -> pd.DataFrame:
        return self.engine().deduplicate(items, index_dir)

    def near_pairs(self, queries: list[str], references: list[str]) -> list[tuple[int, int, float]]:
        return self.engine().near_pairs(queries, references)

    def self_pairs(self, texts: list[str]) -> list[tuple[int, int, float]]:
        return self.engine().self_pairs(texts)

    def index_settings(self) -> IndexSettings:
        return self.engine().index_settings()

    def index_status(self, index_dir: Path | str | None) -> str:
        return self.engine().index_status(index_dir)
