"""The whole pipeline on the embedded default, recorded in PostgreSQL through the production instance profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from servers import postgres_db, postgres_server  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pipeline_runs_against_postgres_instance(tmp_path, monkeypatch, postgres_db):
    from conftest import pipeline_settings
    from pipelines.definitions import build_definitions
    from pipelines.run_all import run_pipeline

    server, db = postgres_db
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    for key, value in server.env(db).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # One checkpoint and a small evaluation: this test is about where the runs are recorded, and CI time is shared.
    # 12 steps: fewer leave the random tiny model below its zero-shot base, and the promotion gate refuses it.
    settings = pipeline_settings(tmp_path, trainer={"max_steps": 12, "save_every": 12},
                                 evaluator={"forgetting_sample_size": 8})
    defs = build_definitions(settings)

    lines: list[str] = []

    def log(message: str) -> None:
        lines.append(message)
        print(message, flush=True)  # shown with -s, and in the report when the test fails

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        instance.event_log_storage.set_concurrency_slots("gpu", 1)  # the deployment step (docs/DEPLOYMENT.md)
        summary = run_pipeline(defs, instance, log=log)
        assert summary["checkpoints"], lines

    conn = psycopg2.connect(server.dsn(db))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, count(*) FROM runs GROUP BY status")
            statuses = dict(cur.fetchall())
            cur.execute("SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
            materialised = {row[0] for row in cur.fetchall()}
            cur.execute("SELECT partitions_def_name, partition FROM dynamic_partitions")
            partitions = cur.fetchall()
    finally:
        conn.close()

    # One ingest run per drop, train, one evaluation per checkpoint, publish: all in PostgreSQL, all successful.
    assert set(statuses) == {"SUCCESS"}, statuses
    assert statuses["SUCCESS"] >= 3 + len(summary["checkpoints"]), (statuses, lines)
    for key in ("qlora_adapter", "training_datasets", "checkpoint_evaluation"):
        assert f'["{key}"]' in materialised, sorted(materialised)
    assert {p for _, p in partitions} >= set(summary["checkpoints"])
