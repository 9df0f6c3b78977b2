"""The artifact root as a Dagster resource (kept apart from storage.py so the training process needs no dagster)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class ArtifactStore(dg.ConfigurableResource):
    """Root folder of every generated artifact (datasets, adapters, reports, models).

    ``root`` is a local folder (relative to the working directory or absolute). Large artifacts stay on disk and
    assets hand each other paths under this root.
    """

    root: str = "artifacts"

    def path(self, *parts: str) -> Path:
        p = Path(self.root).expanduser().joinpath(*parts)
        return p.resolve() if not p.is_absolute() else p

    def ensure(self, *parts: str) -> Path:
        p = self.path(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p
