"""The artifact root as a Dagster resource (kept apart from storage.py so the training process needs no dagster)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import dagster as dg

from resources.layout import Layout


class ArtifactStore(dg.ConfigurableResource):
    """Where every generated artifact lives (datasets, adapters, reports, models).

    ``root`` is a local folder (relative to the working directory or absolute). Large artifacts stay on disk and
    assets hand each other paths under this root.

    ``uri`` (empty by default) puts the artifacts in shared object storage instead, e.g.
    ``s3://privft-artifacts/prod`` (any fsspec URL; endpoint and credentials from the environment, see
    resources/remote/object_store.py). ``root`` is then this node's working copy: each step pulls what changed
    before it runs and pushes what it wrote before it reports success (resources/remote/mirror.py).
    """

    root: str = "artifacts"
    uri: str = ""

    def path(self, *parts: str) -> Path:
        p = Path(self.root).expanduser().joinpath(*parts)
        return p.resolve() if not p.is_absolute() else p

    @property
    def layout(self) -> Layout:
        """Where each stage's artifacts live under this root."""
        return Layout(self.path())

    def ensure(self, *parts: str) -> Path:
        p = self.path(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    # --- shared object storage -------------------------------------------------------------------------------
    def mirror(self):
        from resources.remote.mirror import ArtifactMirror

        return ArtifactMirror(self.uri, self.path())

    def pull(self, log=None) -> None:
        if self.uri:
            report = self.mirror().pull()
            if log is not None:
                log.info(f"artifacts from {self.uri}: {report.summary()}")

    def push(self, log=None) -> None:
        if self.uri:
            report = self.mirror().push()
            if log is not None:
                log.info(f"artifacts to {self.uri}: {report.summary()}")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.pull(context.log)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # a failed step's complete outputs (e.g. checkpoints before a crash) are published too: another node
        # resumes from them
        self.push(context.log)


def publishes_artifacts(fn: Callable) -> Callable:
    """Push the asset's writes to the artifact URI before Dagster hears that it succeeded.

    Resource teardown runs only after the step's success event, when a downstream step may already be starting
    on another node; pushing from the asset body closes that gap. A no-op for a local artifact root.
    """
    @functools.wraps(fn)
    def wrapper(context, *args, **kwargs):
        result = fn(context, *args, **kwargs)
        store = kwargs.get("store")
        if isinstance(store, ArtifactStore):
            store.push(context.log)
        return result

    return wrapper
