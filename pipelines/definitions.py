"""The Dagster code location: every asset, check, job, schedule and sensor of the pipeline."""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipelines.environment import apply_offline_env
from resources.known_warnings import silence_known_warnings

apply_offline_env()
silence_known_warnings()  # the run workers and code server of make ui print them otherwise (see the module)

from assets import (evaluate, export, prepare, preference, preference_train, provenance, publish,  # noqa: E402
                    ratings, sources, teacher, train)
from assets.checks import all_checks  # noqa: E402
from pipelines.automation import all_schedules, all_sensors  # noqa: E402
from pipelines.dead_runs import dead_run_sensor  # noqa: E402
from pipelines.environment import build_resources  # noqa: E402
from pipelines.jobs import all_jobs  # noqa: E402
from pipelines.provenance import erasure_requests, provenance_lookup_job  # noqa: E402
from pipelines.run_names import label_asset_runs  # noqa: E402


def build_definitions(settings: dict[str, dict[str, Any]] | None = None) -> dg.Definitions:
    """Definitions with resources from ``settings`` (or privft.yaml / environment when None)."""
    resources = build_resources(settings)
    optional = [teacher.teacher_generation] if resources["teacher"].enabled else []  # off unless configured
    optional += [export.model_export] if resources["exporter"].enabled() else []  # exporter.formats: [] is off
    optional += [preference_train.preference_adapter] if resources["dpo"].enabled else []  # dpo.enabled: false
    return dg.Definitions(
        assets=[*sources.source_assets,
                *dg.load_assets_from_modules([prepare, preference, train, evaluate, ratings, publish]),
                provenance.erasure_report, *optional],
        asset_checks=[*all_checks, *preference.preference_checks],
        jobs=[*all_jobs, provenance_lookup_job],
        schedules=all_schedules,
        sensors=[*all_sensors, erasure_requests, dead_run_sensor, label_asset_runs],
        resources=resources,
    )


defs = build_definitions()
