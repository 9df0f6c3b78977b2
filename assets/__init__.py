"""Thin Dagster asset definitions, one module per pipeline stage, and the few declarations they share.

Asset modules never import each other: they name other assets by key, find their outputs through
``ArtifactStore.layout`` and share only what is declared here: the partitions, the automation conditions and the
decorator defaults of each asset group.

The rule that saves GPU hours: a stage re-runs only when the *data version* of something it reads changed,
not merely because an upstream run happened. Re-ingesting identical data, touching a file, or a drop that
contains only duplicates leaves the training set's data version unchanged, so nothing downstream trains.
"""

from typing import Callable, Iterable

import dagster as dg

from resources.artifact_store import publishes_artifacts
from resources.schema import SOURCES

# --- partitions: one per data drop of each source, one per adapter checkpoint -------------------------------
DROP_PARTITIONS = {source: dg.DynamicPartitionsDefinition(name=f"{source}_drops") for source in SOURCES}
CHECKPOINT_PARTITIONS = dg.DynamicPartitionsDefinition(name="checkpoints")


def register_checkpoints(instance: dg.DagsterInstance, keys: Iterable[str]) -> None:
    """Make each checkpoint key a partition of ``checkpoint_evaluation`` (those already known stay as they are)."""
    known = set(instance.get_dynamic_partitions(CHECKPOINT_PARTITIONS.name))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(CHECKPOINT_PARTITIONS.name, new)


# --- automation conditions: what re-runs by itself, and when -------------------------------------------------
AC = dg.AutomationCondition

# New drops flow into preparation as soon as they are ingested; a failed or pending drop does not hold back
# the others (so missing upstream partitions are allowed).
on_new_drops = AC.eager().without(~AC.any_deps_missing()).with_label("on_new_drops")

# Re-run when an input's data version changed (or the asset was never built), once nothing upstream is running.
on_changed_inputs = (
    (AC.newly_missing() | AC.any_deps_match(AC.data_version_changed())).since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
).with_label("on_changed_inputs")

# Each new checkpoint partition is evaluated once.
on_new_checkpoint = AC.on_missing().with_label("on_new_checkpoint")

# Merge and promote only after a new evaluation summary (a newly chosen checkpoint): a changed training set
# alone must wait for its checkpoints to be trained and evaluated first.
on_new_evaluation = (
    (AC.newly_missing()
     | AC.any_deps_match(AC.data_version_changed()).allow(dg.AssetSelection.assets("evaluation_summary")))
    .since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
).with_label("on_new_evaluation")

# The summary compares every checkpoint of the current adapter, so it waits until there is nothing left to
# compare: no training upstream of the checkpoints still running, no checkpoint partition still unevaluated
# (seen live: a changed baseline made the summary, and so a merge, run mid-training on the old checkpoints).
on_all_checkpoints_evaluated = (
    (AC.newly_missing() | AC.any_deps_match(AC.data_version_changed())).since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.any_deps_match(AC.missing() | AC.any_deps_in_progress())
    & ~AC.in_progress()
).with_label("on_all_checkpoints_evaluated")


# --- decorator defaults per asset group ------------------------------------------------------------------------
CPU, GPU = {"compute": "cpu"}, {"compute": "gpu"}  # what a step needs, for the UI and tag selections
GROUP_DEFAULTS = {
    "sources": {"owners": ["team:data"], "kinds": {"python", "parquet"}, "tags": CPU},
    "prepare": {"owners": ["team:data"], "kinds": {"python", "parquet"}, "tags": CPU},
    "train": {"owners": ["team:ml"], "kinds": {"pytorch", "peft"}, "tags": GPU},
    "evaluate": {"owners": ["team:ml"], "tags": CPU},
    "publish": {"owners": ["team:ml"], "tags": GPU},
    "governance": {"owners": ["team:data"], "kinds": {"python"}},
}


def group_asset(group: str) -> Callable[..., Callable[[Callable], dg.AssetsDefinition]]:
    """``@dg.asset`` with what the assets of ``group`` share: the group, its owner, usual kinds and tags, and code
    version "1" (raised by an asset when its logic changes); keyword arguments override them. The description is
    the function's docstring. The function's writes reach the artifact URI before Dagster hears that it succeeded
    (``publishes_artifacts``)."""
    def asset(**overrides) -> Callable[[Callable], dg.AssetsDefinition]:
        settings = {"group_name": group, "code_version": "1", **GROUP_DEFAULTS[group], **overrides}
        return lambda fn: dg.asset(**settings)(publishes_artifacts(fn))

    return asset
