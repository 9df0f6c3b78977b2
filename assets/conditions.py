"""Declarative Automation conditions: what re-runs by itself, and when.

The rule that saves GPU hours: a stage re-runs only when the *data version* of something it reads changed,
not merely because an upstream run happened. Re-ingesting identical data, touching a file, or a drop that
contains only duplicates leaves the training set's data version unchanged, so nothing downstream trains.
"""

import dagster as dg

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
