"""Materialise the whole pipeline once, in order, against a Dagster instance (what ``make run`` does).

Each step is a regular Dagster run of a job from the code location, so every run appears in the run history
of the instance: one ingest run per new drop, one prepare+train run, one run per checkpoint evaluation, one
publish run. Drops and checkpoints already materialised are not redone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import dagster as dg

from assets import DROP_PARTITIONS, register_checkpoints
from pipelines.dead_runs import process_tags, sweep_dead_runs
from pipelines.redelivery import redelivered
from resources.reports.run_summary import run_summary
from resources.schema import SOURCES
from resources.training.runs import latest_run, preference_run


def _execute(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, log: Callable[[str], None],
             partition_key: str | None = None, verbose: bool = False) -> dg.ExecuteInProcessResult:
    started = time.monotonic()
    # Dagster's console logger prints every DEBUG event of the run; the instance's event log keeps them all anyway
    console = {"loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "WARNING"}}}}
    # process_tags: a later run can tell this one was killed, and free its pool slot (dead_runs.py)
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition_key,
                                                          run_config=console,
                                                          raise_on_error=True, tags=process_tags())
    label = f"{job}[{partition_key}]" if partition_key else job
    log(f"{label}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s (run {result.run_id[:8]})")
    return result


def _evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, log: Callable[[str], None], keys: list[str],
              verbose: bool) -> None:
    register_checkpoints(instance, keys)
    for key in keys:
        _execute(defs, "evaluate_checkpoint_job", instance, log, partition_key=key, verbose=verbose)


def register_drops(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Add a dynamic partition for every drop the catalog sees; return the drops not yet ingested, and those
    re-delivered with other files since their ingest."""
    catalog = defs.resources["catalog"]
    pending: dict[str, list[str]] = {}
    for source in SOURCES:
        name = DROP_PARTITIONS[source].name
        drops = sorted(catalog.list_drops(source))
        known = set(instance.get_dynamic_partitions(name))
        instance.add_dynamic_partitions(name, [d for d in drops if d not in known])
        done = instance.get_materialized_partitions(dg.AssetKey(source))
        again = set(redelivered(instance, catalog, source, [d for d in drops if d in done]))
        pending[source] = [d for d in drops if d not in done or d in again]
    return pending


def run_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance,
                 log: Callable[[str], None] = print, verbose: bool = False) -> dict:
    """Run every stage that has work; end with what the run left behind (``summary``: the lines logged last)."""
    started = time.monotonic()
    sweep_dead_runs(instance, log)  # a killed earlier run would hold its pool slot and block ours forever
    incoming = Path(defs.resources["catalog"].incoming_root)
    for source in SOURCES:  # where new drops go (README, Automation): there before anyone has to ask
        try:
            (incoming / source).mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only or foreign incoming root must not stop the run over a convenience
            log(f"note: could not create {incoming / source} ({exc.strerror}); create it before dropping files there")
    ingested = 0
    for source, drops in register_drops(defs, instance).items():
        for drop in drops:
            _execute(defs, f"ingest_{source}", instance, log, partition_key=drop, verbose=verbose)
            ingested += 1
    _execute(defs, "train_job", instance, log, verbose=verbose)

    layout = defs.resources["store"].layout
    checkpoints = latest_run(layout).get("checkpoints", [])
    _evaluate(defs, instance, log, checkpoints, verbose)
    ran = [f"{ingested} new drop(s) ingested", "prepare + train", f"{len(checkpoints)} checkpoint evaluation(s)"]
    if defs.resources["dpo"].enabled:  # DPO starts from the best SFT checkpoint, so after SFT's evaluations
        _execute(defs, "preference_job", instance, log, verbose=verbose)
        dpo_checkpoints = preference_run(layout).get("checkpoints", [])
        _evaluate(defs, instance, log, dpo_checkpoints, verbose)
        ran.append(f"DPO + {len(dpo_checkpoints)} checkpoint evaluation(s)")
    _execute(defs, "publish_job", instance, log, verbose=verbose)
    seconds = time.monotonic() - started
    ran.append("publish")
    summary = run_summary(layout.root, defs.resources["publisher"].model_name, ran, seconds, incoming)
    log("\n".join(["", *summary]))
    return {"seconds": seconds, "checkpoints": checkpoints, "summary": summary}
