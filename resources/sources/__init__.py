"""Raw data sources: finding drops, reading their files robustly, and the per-source rules that make examples."""

from resources.sources.catalog import SourceCatalog
from resources.sources.ingest import DropSummary

__all__ = ["SourceCatalog", "DropSummary"]
