"""Nothing phones home: static and configuration checks for every switch docs/EGRESS.md relies on.

The end-to-end proof (the pipeline completes on a machine without a network) is tests/test_privacy_netns.py;
these checks pin the settings that keep each library quiet when a network *is* there, and fail when someone
turns one back on.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.environment import OFFLINE_ENV, apply_offline_env
from resources.offline import HUB_OFFLINE

REPO = Path(__file__).resolve().parents[1]
INSTANCE_PROFILES = [REPO / "dagster.yaml", REPO / "deploy" / "dagster.postgres.yaml"]


@pytest.mark.parametrize("profile", INSTANCE_PROFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dagster_instance_profiles_disable_telemetry(profile, tmp_path):
    if not profile.exists():
        pytest.skip(f"{profile.relative_to(REPO)} is not part of this checkout")
    settings = yaml.safe_load(profile.read_text())
    assert settings.get("telemetry", {}).get("enabled") is False, f"{profile}: telemetry.enabled must be false"


def test_the_local_instance_reports_telemetry_off(tmp_path, monkeypatch):
    """What Dagster itself concludes from dagster.yaml (a missing or misspelt key silently means "on")."""
    import shutil

    import dagster as dg
    from dagster_shared.telemetry import get_telemetry_enabled_from_dagster_yaml

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.telemetry_enabled is False
    assert get_telemetry_enabled_from_dagster_yaml() is False  # the CLI's lightweight check (dagster dev)
    # Control: without the setting Dagster would collect telemetry, so the assertions above can fail.
    (home / "dagster.yaml").write_text("{}\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.telemetry_enabled is True


@pytest.mark.parametrize("profile", INSTANCE_PROFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_ui_asks_for_no_e_mail_address(profile, tmp_path):
    """Dagster's first-visit dialog asks for an e-mail address for its newsletter; off in every profile."""
    import dagster as dg

    if not profile.exists():
        pytest.skip(f"{profile.relative_to(REPO)} is not part of this checkout")
    assert yaml.safe_load(profile.read_text()).get("nux", {}).get("enabled") is False, profile
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"nux": yaml.safe_load(profile.read_text())["nux"]}))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.nux_enabled is False
    (home / "dagster.yaml").write_text("{}\n")  # control: Dagster shows it unless told otherwise
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.nux_enabled is True


def test_apply_offline_env_sets_every_switch(monkeypatch):
    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    apply_offline_env()
    for key, value in OFFLINE_ENV.items():
        assert os.environ[key] == value
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE",
                "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "DAGSTER_DISABLE_TELEMETRY",
                "DO_NOT_TRACK"):
        assert OFFLINE_ENV.get(key) == "1", f"OFFLINE_ENV must set {key}=1 (docs/EGRESS.md)"


LIBRARY_VIEW = """
import json, sys
sys.path.insert(0, {repo!r})
from pipelines.environment import apply_offline_env
apply_offline_env()
import huggingface_hub.constants as hub
import datasets.config
from transformers.utils.hub import is_offline_mode  # transformers defers to huggingface_hub here
from dagster._core.telemetry_upload import is_running_in_test
print(json.dumps({{
    "hub_offline": hub.is_offline_mode(), "hub_telemetry_off": hub.HF_HUB_DISABLE_TELEMETRY,
    "hub_no_implicit_token": hub.HF_HUB_DISABLE_IMPLICIT_TOKEN, "transformers_offline": is_offline_mode(),
    "datasets_offline": datasets.config.HF_HUB_OFFLINE,
    "dagster_upload_off": is_running_in_test(),
}}))
"""


def test_libraries_see_offline_mode_after_apply_offline_env(tmp_path):
    """Each library reads its switch once, at import: check what a fresh process actually ends up with.

    (evaluate is left out: importing it pulls in all of transformers' pipelines, ~30 s on two cores; its switch
    is the plain HF_EVALUATE_OFFLINE=1 checked above, and resources/evaluation/metrics.py also sets it on
    evaluate.config directly.)"""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV and not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["HF_HOME"] = str(tmp_path / "hf")
    out = subprocess.run([sys.executable, "-c", LIBRARY_VIEW.format(repo=str(REPO))], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    view = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(view.values()), f"a library is not in offline/no-telemetry mode: {view}"


def test_offline_env_is_applied_before_the_libraries_are_imported():
    """Every way into the pipeline sets the offline switches first: the code location and the CLI."""
    definitions = (REPO / "pipelines" / "definitions.py").read_text()
    first_call = definitions.index("apply_offline_env()")
    first_asset_import = definitions.index("from assets")
    assert first_call < first_asset_import, \
        "pipelines/definitions.py must call apply_offline_env() before importing assets"
    cli = ast.parse((REPO / "pipelines" / "cli.py").read_text())
    main = next(n for n in cli.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert "apply_offline_env" in [ast.unparse(c.func) for c in ast.walk(main) if isinstance(c, ast.Call)]
    # The training process gets the offline switches in its own environment (it imports transformers itself).
    launcher = (REPO / "resources" / "training" / "launcher.py").read_text()
    assert "**HUB_OFFLINE" in launcher, "the training process must get the offline switches (resources/offline.py)"
    assert HUB_OFFLINE["HF_HUB_OFFLINE"] == HUB_OFFLINE["TRANSFORMERS_OFFLINE"] == "1"


def test_webserver_binds_to_loopback_by_default():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^HOST\s*\?=\s*127\.0\.0\.1\s*$", makefile, re.M), "Makefile must default HOST to 127.0.0.1"
    ui = re.search(r"^ui:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert ui and "-h $(HOST)" in ui.group(1), "`make ui` must pass -h $(HOST) to dagster dev"
    assert "0.0.0.0" not in makefile


# Calls that reach the network, and where the project allows them. Anything else in the project's code is new
# egress and needs a decision (and a line in docs/EGRESS.md) before it is allowed here.
NETWORK_CALLS = re.compile(r"\b(snapshot_download|hf_hub_download|load_dataset|push_to_hub|upload_file|urlopen|"
                           r"requests\.(get|post|put|head)|httpx\.|urllib\.request|socket\.create_connection|"
                           r"nltk\.download|torch\.hub|wandb|mlflow|comet_ml|neptune|clearml)\b")
ALLOWED_NETWORK_CALLS = {
    ("resources/model/base_model.py", "snapshot_download"),  # only with BaseModel.allow_download: true
}


def _project_python_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.py"], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return [REPO / p for p in out.stdout.splitlines()
            if (REPO / p).is_file() and not p.startswith("tests/") and not p.startswith("benchmarks/")]


def test_no_unreviewed_network_calls_in_project_code():
    found = set()
    for path in _project_python_files():
        rel = str(path.relative_to(REPO))
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            code = line.split("#", 1)[0]
            for m in NETWORK_CALLS.finditer(code):
                found.add((rel, m.group(1)))
    unexpected = found - ALLOWED_NETWORK_CALLS
    assert not unexpected, f"network calls not reviewed in docs/EGRESS.md: {sorted(unexpected)}"


def test_evaluate_metrics_load_by_local_path_only():
    """evaluate.load("rouge") would fetch and run a script from the hub; the project loads its shipped copy."""
    for path in _project_python_files():
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "evaluate.load" and call.args:
                arg = call.args[0]
                assert not isinstance(arg, ast.Constant), \
                    f"{path.relative_to(REPO)}: evaluate.load({arg.value!r}) by name reaches the hub"


def test_no_experiment_tracker_is_configured():
    """transformers' report_to would send metrics to every installed tracker when set to "all"."""
    for path in _project_python_files():
        text = path.read_text()
        for m in re.finditer(r"report_to\s*=\s*([^,)\n]+)", text):
            assert m.group(1).strip() in ('"none"', "'none'", "[]"), f"{path}: report_to={m.group(1)}"
