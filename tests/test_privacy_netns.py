"""Nothing leaves the machine: a network namespace that has only a loopback interface is what the privacy tests
run the pipeline in, and asking for a hub model there fails fast and clearly instead of hanging.

The namespace's interface list is the proof of isolation (asserted here, and from inside a child process); no test
sends traffic to an outside address. See tests/netns.py for when these skip. The whole pipeline runs to completion
in such a namespace in tests/test_privacy_pipeline.py::test_whole_pipeline_runs_without_a_network (that one
pipeline run also carries the PII and secret proofs, the most expensive part of the suite done once).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

import netns as netns_module
from netns import Namespace, isolated_namespace, namespace_exists, namespace_or_skip, netns  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, minus anything that points at another configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRIVFT_", "DAGSTER_", "HF_", "TRANSFORMERS_")) and k != "PYTEST_CURRENT_TEST"}
    # An empty Hugging Face home, so nothing can come from a cache filled while a network was available.
    env.update(HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", **extra)
    return env


INTERFACES = "import socket; print('INTERFACES', sorted(name for _, name in socket.if_nameindex()))"


def test_namespace_has_only_loopback_and_is_removed(netns: Namespace, tmp_path):
    assert netns.interfaces() == ["lo"]
    assert netns.routes() == [] or all(" lo" in r for r in netns.routes()), netns.routes()
    out = netns.run([sys.executable, "-c", INTERFACES], timeout=60, env=child_env(tmp_path))
    assert out.returncode == 0 and "INTERFACES ['lo']" in out.stdout, out.stdout + out.stderr
    # Control: this process, outside the namespace, does see another interface (so the check above can fail).
    import socket

    assert sorted(n for _, n in socket.if_nameindex()) != ["lo"], "the test machine itself has no network"
    assert namespace_exists(netns.name)


def test_namespace_is_deleted_even_when_the_test_fails():
    try:
        with isolated_namespace() as ns:
            name = ns.name
            raise KeyError("boom")
    except KeyError:
        pass
    except Exception as exc:  # NamespaceUnavailable: same decision as the fixture
        pytest.skip(f"network namespaces unavailable: {exc}")
    assert not namespace_exists(name)


def test_forbidden_namespaces_skip_outside_ci_and_fail_in_ci(tmp_path, monkeypatch):
    """What a container without CAP_SYS_ADMIN answers; a stand-in `ip` replays it."""
    fake_ip = tmp_path / "ip"
    fake_ip.write_text("#!/bin/sh\necho 'mount --make-shared /run/netns failed: Operation not permitted' >&2\n"
                       "exit 1\n")
    fake_ip.chmod(0o755)
    monkeypatch.setattr(netns_module, "ip_tool", lambda: str(fake_ip))
    monkeypatch.setattr(netns_module.os, "geteuid", lambda: 0)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Operation not permitted"):
        with namespace_or_skip():
            pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true.*Operation not permitted"):
        with namespace_or_skip():
            pass
    monkeypatch.setattr(netns_module, "ip_tool", lambda: None)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="iproute2"):
        with namespace_or_skip():
            pass


HUB_SCRIPT = """
import sys, time
from pipelines.environment import apply_offline_env
apply_offline_env()
if {force_online}:
    # Simulate a process where offline mode did not take (the download path lifts it): the request must then
    # meet the missing network, and still end quickly with the same clear error.
    import huggingface_hub.constants as hub
    hub.HF_HUB_OFFLINE = False
from resources.model.base_model import BaseModel, BaseModelNotFound
started = time.monotonic()
try:
    BaseModel(name="meta-llama/Llama-3.2-1B", allow_download={allow}).materialise({dest!r})
    print("RESULT materialised")
except BaseModelNotFound as exc:
    print(f"RESULT BaseModelNotFound {{time.monotonic() - started:.2f}}s {{exc}}")
except Exception as exc:
    print(f"RESULT {{type(exc).__name__}} {{exc}}")
"""


def run_hub_request(ns: Namespace, tmp_path: Path, *, allow: bool, force_online: bool = False) -> tuple[float, str]:
    script = HUB_SCRIPT.format(allow=allow, force_online=force_online, dest=str(tmp_path / "dest"))
    started = time.monotonic()
    out = ns.run([sys.executable, "-c", script], timeout=120, env=child_env(tmp_path), cwd=str(REPO))
    wall = time.monotonic() - started
    result = out.stdout[out.stdout.find("RESULT"):] if "RESULT" in out.stdout else ""  # messages span lines
    assert result, f"no result (exit {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return wall, result


@pytest.mark.parametrize("force_online", [False, True], ids=["as-configured", "offline-mode-lifted"])
def test_hub_model_with_downloads_on_fails_fast_without_network(netns: Namespace, tmp_path, force_online):
    wall, result = run_hub_request(netns, tmp_path, allow=True, force_online=force_online)
    assert wall < 60, f"asking for a hub model took {wall:.0f}s without a network: {result}"
    assert result.startswith("RESULT BaseModelNotFound"), result
    assert "meta-llama/Llama-3.2-1B" in result and "could not be downloaded" in result
    assert "point base_model.name at its folder" in result
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").rglob("*.safetensors"))
    netns.assert_isolated()


def test_hub_model_with_downloads_off_fails_instantly(netns: Namespace, tmp_path):
    wall, result = run_hub_request(netns, tmp_path, allow=False)
    seconds = float(result.split()[2].rstrip("s"))
    assert seconds < 1.0, result  # decided from the name alone, before any library is asked
    assert result.startswith("RESULT BaseModelNotFound") and "downloads are off (allow_download: false)" in result
    assert "set base_model.name to its local folder" in result
