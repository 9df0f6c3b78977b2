"""Names for runs that have none: ``privft runs`` and the ``label_asset_runs`` sensor.

``dagster run list`` prints only job names, and every run that Declarative Automation or the UI's *Materialize*
button launches is named ``__ASSET_JOB``: a prepare run and a publish run look alike. ``privft runs`` names such a
run by the assets it materialised and says what started it; the sensor tags it ``privft/assets`` for the UI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import dagster as dg

ASSETS_TAG = "privft/assets"


def what(run: dg.DagsterRun, width: int = 90) -> str:
    """The job's name, or for an anonymous asset job the assets it materialises."""
    if not run.job_name.startswith("__") or not run.asset_selection:
        return run.job_name
    return shorten(sorted(k.to_user_string() for k in run.asset_selection), width)


def shorten(names: list[str], width: int) -> str:
    text = ", ".join(names)
    if len(text) <= width:
        return text
    shown: list[str] = []
    for name in names:
        if len(", ".join([*shown, name])) + 12 > width:
            break
        shown.append(name)
    return ", ".join(shown) + f" +{len(names) - len(shown)} more"


def started_by(run: dg.DagsterRun) -> str:
    tags = run.tags
    if tags.get("dagster/from_automation_condition") or tags.get("dagster/auto_materialize"):
        return "automation"
    for key, label in (("dagster/sensor_name", "sensor"), ("dagster/schedule_name", "schedule"),
                       ("dagster/backfill", "backfill")):
        if tags.get(key):
            return f"{label} {tags[key]}"
    return "privft run" if tags.get("privft/pid") else "launched by hand"


@dg.run_status_sensor(name="label_asset_runs", run_status=dg.DagsterRunStatus.STARTED,
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Tags every run launched as __ASSET_JOB (automation, Materialize) with the assets it "
                                  "materialises (privft/assets), so the run list says what each run did.")
def label_asset_runs(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if run.job_name.startswith("__") and run.asset_selection and ASSETS_TAG not in run.tags:
        context.instance.add_run_tags(run.run_id, {ASSETS_TAG: what(run, width=240)})


def run_lines(instance: dg.DagsterInstance, limit: int = 20) -> list[str]:
    lines = []
    for record in instance.get_run_records(limit=limit):
        run = record.dagster_run
        at = record.start_time or record.create_timestamp.timestamp()
        when = dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        partition = run.tags.get("dagster/partition")
        lines.append(f"{when}  {run.run_id[:8]}  {run.status.value:<9} {what(run)}"
                     + (f" [{partition}]" if partition else "") + f"  ({started_by(run)})")
    return lines or ["no runs in this instance yet"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="privft runs", description="Recent runs, newest first, named by what they "
                                     "materialised (automation runs included), with what started them.")
    parser.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    args = parser.parse_args(argv)
    with dg.DagsterInstance.get() as instance:
        print("\n".join(run_lines(instance, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
