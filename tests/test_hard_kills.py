"""kill -9 at the worst moments: the trainer dies with its launcher, a second trainer is refused a folder a live
one holds, and ``privft run`` after a killed ``privft run`` fails the dead run, frees its pool slot and completes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, pipeline_settings
from resources.processes import pid_alive
from resources.training.output_lock import LOCK_NAME, STALE_AFTER_S, OutputFolderBusy, output_lock, read_holder

PY_ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s training lock until it is killed."""
    code = ("import sys, time\nfrom resources.training.output_lock import output_lock\n"
            f"with output_lock({str(folder)!r}):\n    print('held', flush=True)\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=PY_ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_trainer_is_refused_a_folder_a_live_one_holds(tmp_path, tiny_model_dir):
    from resources.training.config import TrainConfig
    from resources.training.loop import train

    out = tmp_path / "run"
    holder = hold_lock(out)
    try:
        with pytest.raises(OutputFolderBusy) as refused:
            train(TrainConfig(max_steps=2), tiny_model_dir, tmp_path / "train.parquet", out)
        msg = str(refused.value)
        assert f"pid {holder.pid} on host {socket.gethostname()}" in msg and str(out) in msg
        assert read_holder(out)["pid"] == holder.pid  # the refused trainer left the lock alone
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_trainer_is_taken_over_with_a_message(tmp_path):
    out = tmp_path / "run"
    holder = hold_lock(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    said = []
    with output_lock(out, log=said.append) as me:
        assert read_holder(out)["pid"] == me["pid"] == os.getpid()
    assert said == [f"{out}: taking over the lock of pid {holder.pid} on this host, which is gone"]
    assert not (out / LOCK_NAME).exists()  # released: nobody reads a finished trainer as the holder


def test_a_lock_from_another_host_counts_while_its_heartbeat_is_fresh(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text('{"pid": 4242, "host": "gpu-node-7", "since": "2026-11-30T08:00:00Z"}')
    with pytest.raises(OutputFolderBusy, match="pid 4242 on host gpu-node-7"):
        with output_lock(out):
            pass
    old = time.time() - STALE_AFTER_S - 5
    os.utime(out / LOCK_NAME, (old, old))
    said = []
    with output_lock(out, log=said.append):
        pass
    assert "taking over the lock of pid 4242 on host gpu-node-7" in said[0]


def test_the_trainer_dies_with_the_process_that_launched_it(tmp_path):
    # launcher -> trainer, as Trainer.run starts it: PRIVFT_TRAINER_PARENT names the launcher
    trainer = ("import time\nfrom resources.training.parent_watch import watch_parent\nwatch_parent()\n"
               "time.sleep(120)\n")
    launcher = ("import os, subprocess, sys, time\n"
                f"env = {{**os.environ, 'PRIVFT_TRAINER_PARENT': str(os.getpid())}}\n"
                f"p = subprocess.Popen([sys.executable, '-c', {trainer!r}], env=env)\n"
                "print(p.pid, flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", launcher], cwd=REPO, env=PY_ENV, stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    try:
        time.sleep(0.5)
        assert pid_alive(child)
        proc.kill()
        proc.wait()
        wait_for(lambda: not _running(child), 5, f"trainer {child} still running after its launcher was killed")
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_privft_run_killed_while_training_leaves_no_orphan_and_the_next_run_completes(tmp_path):
    import dagster as dg

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    config = tmp_path / "privft.yaml"
    # long enough to be killed mid-training; short enough for a second complete run
    config.write_text(yaml.safe_dump(pipeline_settings(tmp_path, trainer={"max_steps": 16, "save_every": 4})))
    env = {**PY_ENV, "DAGSTER_HOME": str(home), "PRIVFT_CONFIG": str(config)}
    adapters = tmp_path / "artifacts" / "adapters"
    lock = lambda: next(adapters.glob(f"*/{LOCK_NAME}"), None)  # noqa: E731

    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run"], cwd=REPO, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
        trainer = None
        try:
            wait_for(lambda: first.poll() is not None or (lock() and read_holder(lock().parent).get("pid")
                                                        and list(lock().parent.glob("checkpoint-*"))),
                     300, "privft run reaching its first checkpoint")
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            trainer = read_holder(lock().parent)["pid"]
            first.send_signal(signal.SIGKILL)
            first.wait()
            wait_for(lambda: not _running(trainer), 10, f"orphaned trainer {trainer} still running")
        finally:
            if first.poll() is None:
                first.kill()
            if trainer and _running(trainer):
                os.kill(trainer, signal.SIGKILL)

    started = time.time()
    second = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=400)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-4000:]
    assert "(train_job) was STARTED but its process" in out and "marked failed, its pool slots freed" in out
    print(f"second run after kill -9: {time.time() - started:.0f}s")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
        retrained = next(r.dagster_run.run_id for r in records if r.dagster_run.job_name == "train_job"
                         and r.dagster_run.status == dg.DagsterRunStatus.SUCCESS)
        said = [e.message for e in instance.all_logs(retrained)]
        assert [m for m in said if f"taking over the lock of pid {trainer} on this host" in m], said[-20:]
        assert not [r for r in records if r.dagster_run.status in (dg.DagsterRunStatus.STARTED,
                                                                    dg.DagsterRunStatus.STARTING)]
        assert [r for r in records if r.dagster_run.job_name == "train_job"
                and r.dagster_run.status == dg.DagsterRunStatus.FAILURE]
        assert not instance.event_log_storage.get_concurrency_run_ids()


def start_build(root: Path, version: str) -> subprocess.Popen:
    """A publish in another process, stopped inside its build (a merged model half written) until killed."""
    code = ("import sys, time\nfrom resources.publishing.registry import Registry\n"
            "def build(folder):\n    (folder / 'merged').mkdir()\n"
            "    (folder / 'merged' / 'model.safetensors').write_bytes(bytes(1 << 20))\n"
            "    print('building', flush=True)\n    time.sleep(120)\n"
            f"Registry({str(root)!r}, 'm').publish({version!r}, build)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=PY_ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "building"
    return proc


def test_a_publish_killed_mid_build_leaves_a_folder_the_next_publish_removes_but_not_a_live_one(tmp_path):
    from resources.publishing.registry import REQUIRED, Registry

    killed, live = start_build(tmp_path, "v-killed"), start_build(tmp_path, "v-live")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        reg = Registry(tmp_path, "m")
        hidden = lambda: sorted(p.name.split(".")[1] for p in reg.dir.iterdir() if p.name.endswith(".tmp"))  # noqa
        assert hidden() == ["v-killed", "v-live"]

        def build(folder: Path) -> None:
            for name in REQUIRED:
                (folder / name).mkdir() if "." not in name else (folder / name).write_text("{}")

        assert reg.publish("v-next", build)
        assert hidden() == ["v-live"]  # the killed build's megabyte is gone; the live build is untouched
        assert live.poll() is None
        swept = [e for e in reg.history() if e["event"] == "remove_stale_build"]
        assert len(swept) == 1 and swept[0]["folder"].startswith(".v-killed.") and swept[0]["bytes"] == 1 << 20
        assert reg.versions() == ["v-next"]
    finally:
        live.kill()
        live.wait()
