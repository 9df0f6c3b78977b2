"""Sensors and schedules: drops arriving in folders, declarative automation, and the nightly retrain."""


import os

import dagster as dg

from assets import DROP_PARTITIONS
from pipelines.drop_watch import scan
from pipelines.jobs import ingest_jobs, train_job
from resources.schema import SOURCES
from resources.sources.catalog import SourceCatalog

SENSOR_INTERVAL_S = int(os.environ.get("PRIVFT_SENSOR_INTERVAL", "30"))
NIGHTLY_CRON = os.environ.get("PRIVFT_NIGHTLY_CRON", "0 2 * * *")
TIMEZONE = os.environ.get("PRIVFT_TIMEZONE", "Europe/Berlin")


def build_drop_sensor(source: str) -> dg.SensorDefinition:
    partitions = DROP_PARTITIONS[source]

    @dg.sensor(name=f"{source}_drops", job=ingest_jobs[source], minimum_interval_seconds=SENSOR_INTERVAL_S,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Registers and ingests each complete new drop of {source} (stable size or .done marker).")
    def _sensor(context: dg.SensorEvaluationContext, catalog: SourceCatalog):
        ingested = (frozenset(context.instance.get_materialized_partitions(dg.AssetKey(source)))
                    if context.cursor is None else frozenset())
        ready, waiting, cursor = scan(catalog.list_drops(source), context.cursor, ingested)
        known = set(context.instance.get_dynamic_partitions(partitions.name))
        new_keys = sorted({r.drop for r in ready} - known)
        if waiting:
            context.log.info(f"waiting for drops still being written: {waiting}")
        if not ready:
            return dg.SensorResult(skip_reason=dg.SkipReason(
                f"no new complete drop of {source}" + (f"; still being written: {waiting}" if waiting else "")),
                cursor=cursor)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=r.drop, run_key=f"{source}:{r.run_key}") for r in ready],
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)] if new_keys else [],
            cursor=cursor)

    return _sensor


def _latest_timestamp(instance: dg.DagsterInstance, key: str) -> float:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    return event.timestamp if event else 0.0


@dg.schedule(job=train_job, cron_schedule=NIGHTLY_CRON, execution_timezone=TIMEZONE,
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Nightly retrain when new data arrived since the last training; otherwise skips, saying why.")
def nightly_retrain(context: dg.ScheduleEvaluationContext):
    trained_at = _latest_timestamp(context.instance, "qlora_adapter")
    arrived = {s: _latest_timestamp(context.instance, s) for s in SOURCES}
    newer = sorted(s for s, t in arrived.items() if t > trained_at)
    if trained_at and not newer:
        return dg.SkipReason("no new data ingested since the last training run; nothing to retrain")
    return dg.RunRequest(run_key=None, tags={"privft/reason": f"new data in {', '.join(newer) or 'all sources'}"})


automation_sensor = dg.AutomationConditionSensorDefinition(
    "privft_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    description="Evaluates every asset's automation condition: prepare on new drops, train on a changed training set.")

all_sensors = [*(build_drop_sensor(s) for s in SOURCES), automation_sensor]
all_schedules = [nightly_retrain]
