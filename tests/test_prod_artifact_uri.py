"""Artifacts in shared object storage (``store.uri``), against a real S3 server (moto on 127.0.0.1).

Two "nodes" are two local working copies of one bucket prefix: what one node's asset writes, the other node's
next step finds, and only what changed moves.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from conftest import pipeline_settings
from resources.remote.mirror import ArtifactMirror
from resources.remote.object_store import MANIFEST
from resources.storage import content_hash
from servers import bucket, s3_server  # noqa: F401  (fixtures)


@pytest.fixture
def uri(bucket) -> str:  # noqa: F811
    return f"{bucket}/prod"  # a prefix inside the bucket, as in production


def files(root: Path) -> dict[str, bytes]:
    """Content files of a working copy (hidden bookkeeping and temporaries excluded)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def tree(root: Path) -> Path:
    (root / "prepared" / "datasets").mkdir(parents=True)
    (root / "prepared" / "datasets" / "train.parquet").write_bytes(b"train" * 1000)
    (root / "prepared" / "datasets" / "stats.json").write_text('{"rows": 5}')
    (root / "adapters" / "run1" / "checkpoint-000002").mkdir(parents=True)
    (root / "adapters" / "run1" / "checkpoint-000002" / "adapter_model.safetensors").write_bytes(b"\x00w" * 5000)
    (root / "adapters" / "latest.json").write_text('{"run_key": "run1"}')
    (root / "adapters" / "run1" / ".checkpoint-000004.abc.tmp").mkdir()  # a checkpoint being written
    (root / "adapters" / "run1" / ".checkpoint-000004.abc.tmp" / "half").write_bytes(b"half")
    return root


def test_two_working_copies_see_the_same_artifacts(uri, tmp_path):
    a = ArtifactMirror(uri, tree(tmp_path / "a"))
    b = ArtifactMirror(uri, tmp_path / "b")

    pushed = a.push()
    assert sorted(pushed.pushed) == ["adapters", "adapters/run1/checkpoint-000002", "prepared/datasets"]
    pulled = b.pull()
    assert sorted(pulled.pulled) == sorted(pushed.pushed)
    assert files(b.root) == files(a.root)
    assert not (b.root / "adapters" / "run1" / ".checkpoint-000004.abc.tmp").exists()  # temporaries never move

    # nothing changed: nothing moves either way
    assert (a.push().pushed, b.pull().pulled) == ([], [])

    # one file changes on b: only its unit goes up, and only that unit comes down to a
    (b.root / "prepared" / "datasets" / "stats.json").write_text('{"rows": 6}')
    assert b.push().pushed == ["prepared/datasets"]
    assert a.pull().pulled == ["prepared/datasets"]
    assert (a.root / "prepared" / "datasets" / "stats.json").read_text() == '{"rows": 6}'
    assert files(a.root) == files(b.root)

    # touched but identical: hashed, not uploaded
    p = a.root / "adapters" / "latest.json"
    p.write_text(p.read_text())
    assert a.push().pushed == []

    # a unit deleted on one node is deleted from the bucket and then from the other node
    import shutil

    shutil.rmtree(a.root / "adapters" / "run1")
    assert a.push().removed == ["adapters/run1/checkpoint-000002"]
    assert b.pull().removed == ["adapters/run1/checkpoint-000002"]
    assert not (b.root / "adapters" / "run1" / "checkpoint-000002" / "adapter_model.safetensors").exists()
    assert files(a.root) == files(b.root)


def test_interrupted_push_leaves_the_previous_version_visible(uri, tmp_path):
    a = ArtifactMirror(uri, tree(tmp_path / "a"))
    a.push()
    before = content_hash(a.root / "prepared" / "datasets" / "train.parquet")
    (a.root / "prepared" / "datasets" / "train.parquet").write_bytes(b"new" * 2000)

    real_put = a.fs.put_file

    def cut(*args, **kwargs):
        raise ConnectionResetError("simulated network cut during upload")

    a.fs.put_file = cut
    try:
        with pytest.raises(ConnectionResetError):
            a.push()
    finally:
        a.fs.put_file = real_put

    b = ArtifactMirror(uri, tmp_path / "b")
    b.pull()
    assert content_hash(b.root / "prepared" / "datasets" / "train.parquet") == before  # old, complete version
    assert a.push().pushed == ["prepared/datasets"]  # the retry publishes it
    b.pull()
    assert (b.root / "prepared" / "datasets" / "train.parquet").read_bytes() == b"new" * 2000


def test_a_damaged_download_is_refused(uri, tmp_path):
    a = ArtifactMirror(uri, tree(tmp_path / "a"))
    a.push()
    import json

    manifest_key = f"{a.path}/prepared/datasets/{MANIFEST}"
    manifest = json.loads(a.fs.cat_file(manifest_key))
    a.fs.pipe_file(f"{a.path}/prepared/datasets/_versions/{manifest['version']}/stats.json", b'{"rows": 9}')
    with pytest.raises(OSError, match="content hash"):
        ArtifactMirror(uri, tmp_path / "b").pull()


def test_one_working_copy_per_uri(uri, tmp_path):
    ArtifactMirror(uri, tree(tmp_path / "a")).push()
    with pytest.raises(ValueError, match="working copy of"):
        ArtifactMirror(uri + "-other", tmp_path / "a").pull()


def test_assets_on_two_nodes_share_one_bucket(uri, tmp_path):
    """Node A ingests and normalises; node B, with an empty disk, deduplicates from what A published."""
    from pipelines.definitions import build_definitions
    from pipelines.run_all import _execute, register_drops

    instance = dg.DagsterInstance.ephemeral()  # one Dagster instance, two nodes
    node_a = build_definitions(pipeline_settings(tmp_path / "a", store={"uri": uri}))
    for source, drops in register_drops(node_a, instance).items():
        for drop in drops:
            _execute(node_a, f"ingest_{source}", instance, lambda m: None, partition_key=drop)
    assets_a = [node_a.resolve_assets_def(k) for k in ("normalised_examples",)]
    assert dg.materialize(assets_a, instance=instance).success

    root_a, root_b = tmp_path / "a" / "artifacts", tmp_path / "b" / "artifacts"
    node_b = build_definitions(pipeline_settings(tmp_path / "b", store={"uri": uri}))
    assert not root_b.exists()
    result = dg.materialize([node_b.resolve_assets_def("deduplicated_examples")], instance=instance)
    assert result.success
    assert files(root_b / "prepared" / "normalised") == files(root_a / "prepared" / "normalised")
    assert (root_b / "prepared" / "deduplicated" / "examples.parquet").is_file()

    # B published its output before its step reported success; A picks it up with its next pull
    assert not (root_a / "prepared" / "deduplicated").exists()
    ArtifactMirror(uri, root_a).pull()
    assert files(root_a / "prepared" / "deduplicated") == files(root_b / "prepared" / "deduplicated")
    # the data version Dagster recorded on B is the content of what A now reads
    event = instance.get_latest_materialization_event(dg.AssetKey("deduplicated_examples"))
    version = event.asset_materialization.tags.get("dagster/data_version")
    assert version == content_hash(root_a / "prepared" / "deduplicated" / "examples.parquet")


def test_training_process_on_a_fresh_node_pulls_inputs_and_publishes_checkpoints(uri, tmp_path, tiny_model_dir,
                                                                                   repo_root):
    """What a Kubernetes training pod does with a bucket: its disk is empty; the entry point pulls the base model
    and training set, trains, and publishes every checkpoint, which the Dagster side then pulls back."""
    import json
    import shutil
    import subprocess
    import sys

    from test_training_loop import write_train_set

    root = tmp_path / "node" / "artifacts"  # the same path on both "nodes", as store.root is in the pod spec
    shutil.copytree(tiny_model_dir, root / "base_model" / "builtin_tiny")
    write_train_set(root / "prepared" / "datasets" / "train.parquet", 24)
    ArtifactMirror(uri, root).push()
    shutil.rmtree(root.parent)  # the pod's node has none of it

    params = {"base_model_dir": str(root / "base_model" / "builtin_tiny"),
              "train_path": str(root / "prepared" / "datasets" / "train.parquet"),
              "output_dir": str(root / "adapters" / "run1"), "artifacts": {"uri": uri, "root": str(root)},
              "config": dict(max_steps=4, save_every=2, micro_batch_size=2, max_seq_len=256, warmup_steps=1)}
    (tmp_path / "params.json").write_text(json.dumps(params))
    done = subprocess.run([sys.executable, "-m", "resources.training.entry", "--params", str(tmp_path / "params.json")],
                          cwd=repo_root, env={**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("checkpoint published to") == 2  # each checkpoint as it was saved

    back = ArtifactMirror(uri, tmp_path / "dagster_node")
    back.pull(["adapters/run1"])
    for step in ("checkpoint-000002", "checkpoint-000004"):
        assert files(back.root / "adapters" / "run1" / step) == files(root / "adapters" / "run1" / step)
    assert (back.root / "adapters" / "run1" / "checkpoint-000004" / "adapter_model.safetensors").is_file()


def test_cli_pulls_the_working_copy_for_local_tools(uri, tmp_path, monkeypatch, capsys):
    """`privft artifacts pull` brings a machine's copy up to date, e.g. before `privft provenance`."""
    from pipelines.cli import main

    ArtifactMirror(uri, tree(tmp_path / "a")).push()
    monkeypatch.setenv("PRIVFT_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("PRIVFT_ARTIFACT_URI", uri)
    monkeypatch.setenv("PRIVFT_ARTIFACTS", str(tmp_path / "laptop"))
    assert main(["artifacts", "pull"]) == 0
    assert "3 units pulled" in capsys.readouterr().out
    assert files(tmp_path / "laptop") == files(tmp_path / "a")
    assert main(["artifacts", "sideways"]) == 2
