"""Runs whose process is gone: mark them failed and give back their pool slots.

A run killed with ``kill -9`` (or lost with its machine) never reports its end. It stays STARTED in the
instance and keeps its ``gpu`` or ``evaluation`` pool slot, so every later run waits forever for that slot.
Dagster's run monitoring cannot see it: the in-process runs of ``privft run`` have no run worker to check,
and the default run launcher offers no worker health check (only the 6 h ``max_runtime_seconds``).

So each run records its process (pid, host, start time: ``RUN_PROCESS_TAGS``) when it starts; runs launched
by the daemon's default launcher name their worker's pid in their "Started process for run" engine event.
``sweep_dead_runs`` fails every STARTED/STARTING run whose process is gone from this host and frees its
slots; ``privft run`` calls it before it starts, and ``dead_run_sensor`` does it in the daemon.
"""

from __future__ import annotations

from typing import Callable, Optional

import dagster as dg

from resources.processes import same_process_alive, started_at, this_process

PID_TAG, HOST_TAG, STARTED_TAG = "privft/pid", "privft/host", "privft/process_started"
SWEEP_INTERVAL_S = 60


def process_tags() -> dict[str, str]:
    """Tags naming the calling process, for a run executed in it."""
    me = this_process()
    return {PID_TAG: str(me["pid"]), HOST_TAG: me["host"], STARTED_TAG: f"{me['started'] or ''}"}


def _launched_worker_pid(instance: dg.DagsterInstance, run_id: str) -> Optional[int]:
    """The run worker's pid from its engine event, for runs the default (same-host) launcher started."""
    from dagster._core.launcher import DefaultRunLauncher

    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return None  # other launchers run workers elsewhere and bring their own health checks
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value)
    return None


def why_dead(instance: dg.DagsterInstance, record) -> Optional[str]:
    """Why the run's process is known to be gone from this host, or None (alive, elsewhere or unknown)."""
    run = record.dagster_run
    tags = run.tags
    if tags.get(PID_TAG, "").isdigit():
        pid, host = int(tags[PID_TAG]), tags.get(HOST_TAG, "")
        started = float(tags[STARTED_TAG]) if tags.get(STARTED_TAG) else None
        alive = same_process_alive(pid, host, started)
        return None if alive is not False else f"its process (pid {pid} on {host}) is gone"
    pid = _launched_worker_pid(instance, run.run_id)
    if pid is None:
        return None
    if not same_process_alive(pid, this_process()["host"], None):
        return f"its run worker (pid {pid}) is gone"
    began = started_at(pid)
    if began is not None and record.start_time is not None and began > record.start_time + 1:
        return f"its run worker's pid {pid} now belongs to a process started after the run"
    return None


def sweep_dead_runs(instance: dg.DagsterInstance, log: Callable[[str], None] = print) -> list[str]:
    """Fail every in-progress run whose process is gone and free its pool slots; return their run ids."""
    statuses = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    swept = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=statuses)):
        reason = why_dead(instance, record)
        if reason is None:
            continue
        run = record.dagster_run
        instance.report_run_failed(run, f"Marked failed by privft: {reason} (killed or crashed); its pool slots "
                                        "are freed so later runs do not wait for it.")
        storage, held = instance.event_log_storage, False
        if storage.supports_global_concurrency_limits:
            held = run.run_id in storage.get_concurrency_run_ids()
            storage.free_concurrency_slots_for_run(run.run_id)  # its claimed slots and its place in the queues
        log(f"run {run.run_id[:8]} ({run.job_name}) was {run.status.value} but {reason}: marked failed"
            + (", its pool slots freed" if held else "; it held no pool slot"))
        swept.append(run.run_id)
    return swept


@dg.sensor(name="dead_runs", minimum_interval_seconds=SWEEP_INTERVAL_S, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Fails runs whose process was killed (still STARTED in the instance) and frees their pool "
                       "slots, so the next training or evaluation run does not wait forever.")
def dead_run_sensor(context: dg.SensorEvaluationContext):
    swept = sweep_dead_runs(context.instance, context.log.info)
    return dg.SkipReason(f"marked {len(swept)} dead run(s) failed: {', '.join(r[:8] for r in swept)}" if swept
                         else "every in-progress run's process is alive (or not on this host)")
