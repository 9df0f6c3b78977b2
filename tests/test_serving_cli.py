"""``privft serve`` as an operator runs it: which version it serves, what it refuses, a real process on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from pipelines.environment import build_resources
from resources.publishing.registry import Registry
from resources.serving.cli import main, resolve_version
from resources.serving.server import free_port


def version_folder(model_dir):
    """What a published version holds, as far as serving reads it: the merged model (the rest is stand-in)."""
    def build(folder):
        shutil.copytree(model_dir, folder / "merged")
        (folder / "adapter").mkdir()
        (folder / "MODEL_CARD.md").write_text("# support\n")
        (folder / "manifest.json").write_text("{}")
    return build


@pytest.fixture()
def registry(tmp_path, tiny_model_dir):
    reg = Registry(tmp_path / "registry", "support")
    for version in ("v-aaaaaaaaaaaa", "v-bbbbbbbbbbbb"):
        reg.publish(version, version_folder(tiny_model_dir))
    return reg


def test_the_promoted_version_answers_to_the_model_name_too(registry):
    registry.promote("v-aaaaaaaaaaaa", "test")
    folder, ids = resolve_version(str(registry.root), "support", None)
    assert folder == registry.path("v-aaaaaaaaaaaa") and ids == ["support:v-aaaaaaaaaaaa", "support"]
    folder, ids = resolve_version(str(registry.root), "support", "v-bbbbbbbbbbbb")
    assert folder == registry.path("v-bbbbbbbbbbbb") and ids == ["support:v-bbbbbbbbbbbb"]


@pytest.mark.parametrize("model, version, says", [
    ("nosuch", None, "no published versions of 'nosuch'"),
    ("support", None, "no version of 'support' is promoted"),
    ("support", "v-cccccccccccc", "has no version v-cccccccccccc"),
    ("support", "../x", "has no version"),
])
def test_what_cannot_be_served_is_named(registry, model, version, says):
    with pytest.raises(LookupError, match=says.replace("(", r"\(")):
        resolve_version(str(registry.root), model, version)
    argv = ["--registry", str(registry.root), "--model", model] + (["--version", version] if version else [])
    assert main(argv, build_resources()) == 1


def test_other_addresses_need_to_be_asked_for(registry, capsys):
    assert main(["--registry", str(registry.root), "--model", "support", "--host", "0.0.0.0"], build_resources()) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_privft_serve_process_answers_the_openai_client(registry, tmp_path):
    from openai import OpenAI

    registry.promote("v-bbbbbbbbbbbb", "test")
    port = free_port()
    env = {**os.environ, "PRIVFT_CONFIG": str(tmp_path / "none.yaml")}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--registry", str(registry.root),
                             "--model", "support", "--port", str(port), "--max-tokens", "4"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
                break
            except OSError:
                assert time.monotonic() < deadline, "privft serve did not come up"
                time.sleep(0.3)
        assert health["models"] == ["support:v-bbbbbbbbbbbb", "support"]
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        answer = client.chat.completions.create(model="support", messages=[{"role": "user", "content": "hello"}])
        assert answer.usage.completion_tokens == 4 and answer.model == "support"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "serving support:v-bbbbbbbbbbbb, support" in out and "127.0.0.1:%d" % port in out
