"""A run killed while it holds a pool slot is failed and its slot freed by the daemon's dead_runs sensor; a live
run beside it is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import dagster as dg

from conftest import REPO
from pipelines.dead_runs import PID_TAG, dead_run_sensor
from resources.processes import same_process_alive, this_process

HOLD_SLOT = """
import sys, time
import dagster as dg
from pipelines.dead_runs import process_tags

@dg.op(pool=sys.argv[1])
def hold():
    print("holding", flush=True)
    time.sleep(120)

@dg.job
def holds_a_slot():
    hold()

with dg.DagsterInstance.get() as instance:
    holds_a_slot.execute_in_process(instance=instance, tags=process_tags())
"""


def start_holder(home, pool: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD_SLOT, pool], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_the_sensor_fails_a_killed_run_and_frees_its_slot_but_leaves_a_live_one(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    killed, live = start_holder(home, "gpu"), start_holder(home, "evaluation")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = {r.dagster_run.tags[PID_TAG]: r.dagster_run.run_id for r in instance.get_run_records()}
            dead_id, live_id = runs[str(killed.pid)], runs[str(live.pid)]
            assert instance.event_log_storage.get_concurrency_run_ids() == {dead_id, live_id}

            skip = dead_run_sensor(dg.build_sensor_context(instance=instance))
            assert f"marked 1 dead run(s) failed: {dead_id[:8]}" in skip.skip_message
            assert instance.get_run_by_id(dead_id).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(live_id).status == dg.DagsterRunStatus.STARTED
            assert instance.event_log_storage.get_concurrency_run_ids() == {live_id}  # the gpu slot is free again
            assert "is gone" in [e for e in instance.all_logs(dead_id)][-1].message
    finally:
        live.kill()
        live.wait()


def test_a_reused_pid_does_not_pass_for_the_run_s_process():
    me = this_process()
    assert same_process_alive(me["pid"], me["host"], me["started"]) is True
    assert same_process_alive(me["pid"], me["host"], me["started"] - 3600) is False  # same pid, another process
    assert same_process_alive(me["pid"], "another-host", me["started"]) is None  # cannot tell from here
