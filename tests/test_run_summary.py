"""The end of ``privft run``: a quiet terminal during the run, and a summary read from what is on disk."""

import json
import subprocess
import sys
from pathlib import Path

from resources.publishing.registry import Registry
from resources.reports.run_summary import registry_lines
from test_publishing_registry import publish


def test_the_terminal_gets_no_debug_events_but_the_instance_keeps_them(tmp_path):
    # in a fresh process, as privft run is: Dagster's console logger keeps the stderr it first met, which in
    # this pytest process may be an earlier test's closed capture
    code = f"""
import sys, dagster as dg
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import pipeline_settings
from pipelines.definitions import build_definitions
from pipelines.run_all import _execute, register_drops
defs = build_definitions(pipeline_settings(__import__("pathlib").Path({str(tmp_path)!r})))
with dg.instance_for_test(temp_dir={str(tmp_path / "home")!r}) as instance:
    drop = register_drops(defs, instance)["corrected_outputs"][0]
    for verbose in (False, True):
        print("=== verbose", verbose, flush=True)
        print("=== verbose", verbose, file=sys.stderr, flush=True)
        run = _execute(defs, "ingest_corrected_outputs", instance, print, partition_key=drop, verbose=verbose)
        print("=== levels", sorted({{e.level for e in instance.all_logs(run.run_id)}}), flush=True)
"""
    (tmp_path / "home").mkdir()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    quiet_out, verbose_out = result.stdout.split("=== verbose True")
    quiet_err, verbose_err = result.stderr.split("=== verbose True")
    assert " - DEBUG - " not in quiet_out + quiet_err and " - INFO - " not in quiet_out + quiet_err
    assert "ingest_corrected_outputs[2026-11-05.csv]: ok in" in quiet_out
    assert "=== levels [10, 20" in quiet_out  # DEBUG and INFO events are in the run's event log all the same
    assert " - DEBUG - " in verbose_out + verbose_err


def test_a_refused_candidate_is_reported_with_the_gate_reasons_and_the_version_that_stays(tmp_path):
    reg = Registry(tmp_path, "m")
    first = publish(reg, "a", 0.5)
    reg.promote(first, "gate passed: first")
    second = publish(reg, "b", 0.2)
    reg.log("gate", version=second, passed=False, reasons=["rougeL 0.2 does not beat the promoted 0.5"])
    lines = registry_lines(tmp_path / "m")
    assert lines[0] == f"model: m {second}" and str(tmp_path / "m" / second) in lines[1]
    assert lines[2] == f"promoted: NO, {first} stays promoted"
    assert "does not beat the promoted 0.5" in lines[3]


def test_nothing_published_says_so(tmp_path):
    assert registry_lines(tmp_path / "m") == [f"model: no version published under {tmp_path / 'm'}"]


def test_the_promoted_version_shows_its_reason(tmp_path):
    reg = Registry(tmp_path, "m")
    version = publish(reg, "a", 0.5)
    reg.promote(version, "gate passed: beats the base model")
    lines = registry_lines(tmp_path / "m")
    assert lines[2].startswith("promoted: yes (since ") and lines[3].strip() == "gate passed: beats the base model"
    assert json.loads((tmp_path / "m" / "promoted.json").read_text())["version"] == version
