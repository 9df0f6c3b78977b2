"""A real `dagster dev` for the browser tests: its own instance and settings, on 127.0.0.1, stopped afterwards.

The instance is populated in this process first (the same jobs `make run` executes), so the UI opens onto a
pipeline that has already produced every artifact; the server then reads that instance from DAGSTER_HOME and
the code location reads the same settings from the YAML file named by PRIVFT_CONFIG.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from servers import free_port, in_ci

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Flags that keep the system Chromium quiet and offline: no sandbox (root in CI containers), no GPU, no
# background requests to Google services.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DOC_SCREENSHOTS = REPO / "docs" / "screenshots"


def require_chromium() -> Path:
    """The system Chromium; skipped locally when missing, a failure in CI (a broken image must not pass)."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing; install it with `bash .ci/browser.sh` (as root) or `apt-get install -y chromium`"
    if in_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def require_playwright() -> None:
    """Playwright for Python (a test dependency); skipped locally when missing, a failure in CI."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = "playwright is not installed; `.venv/bin/pip install playwright` (never `playwright install`)"
        if in_ci():
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)


def fast_settings(tmp: Path) -> dict:
    """The embedded default, cut down so training and evaluation take about a minute each on two cores."""
    from conftest import pipeline_settings

    if updating_screenshots():  # the docs show a promoted model: 4 steps do not beat the base, as the gate requires
        return pipeline_settings(tmp, erasure={"folder": str(tmp / "erasure")})
    return pipeline_settings(tmp, trainer={"max_steps": 4, "save_every": 2},
                             evaluator={"forgetting_sample_size": 8, "max_new_tokens": 8},
                             erasure={"folder": str(tmp / "erasure")})


def prepare_home(tmp: Path, settings: dict) -> tuple[Path, Path]:
    """A DAGSTER_HOME with the project's dagster.yaml and a PRIVFT_CONFIG file holding ``settings``."""
    import yaml

    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    config = tmp / "privft.yaml"
    config.write_text(yaml.safe_dump(settings, sort_keys=True))
    return home, config


def populate(home: Path, settings: dict, log=lambda message: None, publish: bool = False) -> dict:
    """The runs `make run` makes (pipelines/run_all.py), against the instance in ``home``: every drop
    ingested, prepare+train, one run per checkpoint, then baselines and summary, and with ``publish`` the
    rest of the publish job (merge, register, smoke test).

    Publishing is optional because it takes as long as everything before it here and the tests do not
    look at its outputs; the screenshots for the docs include it. Returns {"checkpoints": [partition keys]}.
    """
    import dagster as dg

    from assets import register_checkpoints
    from pipelines.definitions import build_definitions
    from pipelines.run_all import register_drops
    from resources.training.runs import latest_run

    defs = build_definitions(settings)

    def execute(job: str, instance, **kwargs) -> None:
        started = time.monotonic()
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=True, **kwargs)
        log(f"{job} {kwargs.get('partition_key') or ''}: {'ok' if result.success else 'FAILED'} "
            f"in {time.monotonic() - started:.0f}s")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        for source, drops in register_drops(defs, instance).items():
            for drop in drops:
                execute(f"ingest_{source}", instance, partition_key=drop)
        execute("train_job", instance)
        checkpoints = latest_run(defs.resources["store"].layout).get("checkpoints", [])
        register_checkpoints(instance, checkpoints)
        for key in checkpoints:
            execute("evaluate_checkpoint_job", instance, partition_key=key)
        if publish:
            execute("publish_job", instance)
        else:
            execute("publish_job", instance,
                    asset_selection=[dg.AssetKey("base_baselines"), dg.AssetKey("evaluation_summary")])
    return {"checkpoints": checkpoints}


@dataclass(frozen=True)
class DagsterDev:
    url: str
    home: Path
    log: Path

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 10) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _location_state(server: DagsterDev) -> str:
    """'loaded', 'loading', or the load error of the privft code location."""
    data = server.graphql(LOCATIONS_QUERY)["data"]["workspaceOrError"]
    entries = {e["name"]: e for e in data.get("locationEntries", [])}
    entry = entries.get("privft")
    if entry is None or entry["loadStatus"] != "LOADED":
        return "loading"
    error = entry["locationOrLoadError"]
    if error and error["__typename"] == "PythonError":
        return error["message"]
    return "loaded"


def _default_interrupts() -> None:
    # dagster dev maps SIGTERM onto its SIGINT handler; a SIGINT ignored by the parent (pytest started in the
    # background, as CI does) would be inherited and make the server deaf to SIGTERM as well.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def dagster_dev(home: Path, config: Path, startup_timeout: float = 240) -> Iterator[DagsterDev]:
    """`dagster dev -w workspace.yaml` on a free 127.0.0.1 port; the whole process group is stopped afterwards.

    The sensors tick once an hour here instead of every 30 s: their first tick only records what is in the
    drop folders, so nothing but what a test launches runs while the browser looks at the instance.
    """
    port = free_port()
    log = home / "dagster_dev.log"
    env = {**os.environ, "DAGSTER_HOME": str(home), "PRIVFT_CONFIG": str(config), "PRIVFT_SENSOR_INTERVAL": "3600",
           "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    server = DagsterDev(url=f"http://127.0.0.1:{port}", home=home, log=log)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_default_interrupts)
        try:
            deadline = time.monotonic() + startup_timeout
            state = "not answering"
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
                with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
                    state = _location_state(server)
                    if state == "loaded":
                        break
                    if state != "loading":
                        raise RuntimeError(f"code location privft failed to load: {state}")
                time.sleep(1)
            else:
                raise TimeoutError(f"dagster dev at {server.url} not ready after {startup_timeout:.0f}s "
                                   f"({state}):\n{server.log_tail()}")
            yield server
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM to the server's process group (webserver, daemon, code server, run workers), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    # children may outlive the parent briefly; whatever is left of the group goes now
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def updating_screenshots() -> bool:
    return os.environ.get("PRIVFT_UPDATE_SCREENSHOTS") == "1"


def save_screenshot(page, name: str) -> Path:
    """Always into test-artifacts/screenshots/; also into docs/screenshots/ when PRIVFT_UPDATE_SCREENSHOTS=1."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=False)
    if updating_screenshots():
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SCREENSHOTS / name)
    return path
