"""One run of the whole pipeline proves three privacy guarantees at once (SECURITY.md sections 1, 3 and 4):

1. Nothing leaves the machine: the pipeline (ingest, prepare, QLoRA training, per-checkpoint evaluation, merge,
   publish) runs to completion inside a fresh Linux network namespace whose only interface is loopback, and a
   merged model exists at the end. The namespace's interface list (``ip -n NAME -o link``) is the proof of
   isolation, asserted before and after the run and from inside the child process; no test sends traffic to an
   outside address.
2. Personal data is scrubbed before training and before anything is written to reports: distinctive PII (an
   e-mail address, a +49 phone number, an IBAN with a valid checksum, a Luhn-valid card number, a name, a street
   address, a Steuer-ID, a public IP, a customer number, a full-width e-mail and phone, a dotted phone) is planted
   into a new drop of EVERY source, in every field that becomes message text, and also in a task, a timestamp and
   a verdict the ledger quotes (``test_privacy_pii.plant_drops``).
   None of it, as written or with separators removed, may appear in any artifact (Parquet searched both as bytes
   and decoded, JSON, Markdown, model folders and cards, evaluation predictions and reports, rating sheets), in
   the Dagster run history, in ``DAGSTER_HOME`` or in the pipeline's output, with exactly one exception:
   ``artifacts/sources/**``, the per-drop ingest output, which keeps the original text by design (scrubbing is
   the first step of ``normalised_examples``; see SECURITY.md). That folder must contain every planted value of
   every source, which proves they were really ingested and that the search can find them; the scrubbed rows
   must reach ``prepared/normalised``.
3. Credentials never end up in the run history or the artifacts: a unique canary is planted in every credential
   variable the pipeline or its libraries read (``SECRET_VARIABLES``); it must not appear in any run record,
   stored event, materialisation (with its metadata), file under ``DAGSTER_HOME`` (SQLite storage, compute logs)
   or artifact, nor in the pipeline's output.

Each proof needs the whole pipeline, which is by far the most expensive part of the test suite, and the three
conditions do not interfere with each other, so the module-scoped fixture ``privacy_run`` runs the pipeline ONCE
with all of them at the same time: in a child process (``ip netns exec``) inside the isolated namespace, on the
embedded samples plus the planted PII drops, with the planted secrets in its environment and nothing else from
this process's configuration (an empty Hugging Face home: nothing can come from a cache filled while a network
was available). The three tests then check its results.

Where this machine cannot create network namespaces (see tests/netns.py), only the namespace proof skips (or
fails, in CI as root with ``ip`` present): the pipeline then runs as a plain child process, so the PII and secret
proofs still run everywhere.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from conftest import pipeline_settings
from netns import NamespaceUnavailable, isolated_namespace, run_command, skip_or_fail
from test_privacy_netns import child_env
from test_privacy_pii import CARD, DROP, EMAIL, IBAN, NEEDLES, PHONE, RAW_SOURCE_FOLDER, file_text, plant_drops

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("reviewed_interactions", "corrected_outputs", "expert_annotations", "teacher_synthetic")

# Every credential variable something in the stack reads: the production instance (PostgreSQL), object storage
# clients, and the Hugging Face token the hub libraries would pick up implicitly.
SECRET_VARIABLES = ("PRIVFT_PG_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "HF_TOKEN",
                    "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY")

PIPELINE_SCRIPT = """
import json, socket, sys
import dagster as dg
from pipelines.definitions import build_definitions
from pipelines.run_all import run_pipeline

settings = json.loads(open(sys.argv[1]).read())
with dg.DagsterInstance.from_config(sys.argv[2]) as instance:
    summary = run_pipeline(build_definitions(settings), instance, log=lambda line: print("LOG", line, flush=True))
    statuses = sorted({run.status.value for run in instance.get_runs()})
print("SUMMARY", json.dumps({"checkpoints": summary["checkpoints"], "statuses": statuses,
                             "interfaces": sorted(name for _, name in socket.if_nameindex())}))
"""


def event_log_texts(instance) -> list[str]:
    """Every run record and every stored event (logs, step events, materialisations with metadata) as text."""
    from dagster._serdes import serialize_value

    texts = []
    for run in instance.get_runs():
        texts.append(serialize_value(run))
        texts += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    for key in instance.get_asset_keys():
        for record in instance.fetch_materializations(key, limit=1000).records:
            texts.append(serialize_value(record.asset_materialization))
    return texts


def find_in_tree(root: Path, needles) -> dict[str, list[str]]:
    """Relative path -> needles found in it, for every file under ``root``: its bytes, and Parquet also decoded
    (pages may be compressed)."""
    hits = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if path.suffix == ".parquet":
                data += b"\n" + file_text(path)
            found = [n for n in needles if n.encode() in data]
            if found:
                hits[str(path.relative_to(root))] = found
    return hits


@pytest.fixture(scope="module")
def privacy_run(tmp_path_factory):
    """The whole pipeline, once: in the isolated namespace (where possible), with planted PII and secrets."""
    import dagster as dg

    tmp = tmp_path_factory.mktemp("privacy")
    samples = tmp / "samples"
    shutil.copytree(REPO / "data" / "samples", samples)
    plant_drops(samples)
    # the default twelve steps: with four, whether the barely trained model beats the base (so the pipeline
    # publishes and completes) was down to chance, and any change to the training text could tip it
    settings = pipeline_settings(tmp, catalog={"sample_root": str(samples)})
    (tmp / "settings.json").write_text(json.dumps(settings))
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    (tmp / "run.py").write_text(PIPELINE_SCRIPT)

    marker = "privft-canary-" + secrets.token_hex(12)
    planted = {var: f"{marker}-{var.lower()}" for var in SECRET_VARIABLES}
    # child_env drops this process's PRIVFT_/DAGSTER_/HF_ variables; the canaries are added after that.
    env = child_env(tmp, DAGSTER_HOME=str(home), PRIVFT_ARTIFACTS=str(tmp / "artifacts"), **planted)
    argv = [sys.executable, str(tmp / "run.py"), str(tmp / "settings.json"), str(home)]

    with ExitStack() as stack:
        ns = unavailable = isolated_before = None
        try:
            ns = stack.enter_context(isolated_namespace())
        except NamespaceUnavailable as exc:
            unavailable = exc  # the namespace test skips (or fails in CI); the other proofs run without it
        if ns is not None:
            try:
                ns.assert_isolated()
            except AssertionError as exc:
                isolated_before = str(exc)
            out = ns.run(argv, timeout=840, env=env, cwd=str(tmp))
        else:
            out = run_command(argv, timeout=840, env=env, cwd=str(tmp))
        summary_line = next((line for line in out.stdout.splitlines() if line.startswith("SUMMARY ")), None)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            texts = event_log_texts(instance)
        yield {"ns": ns, "unavailable": unavailable, "isolated_before": isolated_before, "out": out,
               "summary": json.loads(summary_line[len("SUMMARY "):]) if summary_line else None,
               "lines": [line[len("LOG "):] for line in out.stdout.splitlines() if line.startswith("LOG ")],
               "texts": texts, "marker": marker, "artifacts": Path(settings["store"]["root"]), "home": home}


def completed(run: dict) -> dict:
    """The child's summary, after asserting that the whole pipeline succeeded."""
    out = run["out"]
    where = "inside the namespace" if run["ns"] is not None else "(no namespace on this machine)"
    assert out.returncode == 0 and run["summary"], \
        f"pipeline failed {where}:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert run["summary"]["statuses"] == ["SUCCESS"] and run["summary"]["checkpoints"], run["summary"]
    return run["summary"]


def test_whole_pipeline_runs_without_a_network(privacy_run):
    if privacy_run["ns"] is None:
        skip_or_fail(privacy_run["unavailable"])
    netns = privacy_run["ns"]
    assert privacy_run["isolated_before"] is None, privacy_run["isolated_before"]
    summary = completed(privacy_run)
    assert summary["interfaces"] == ["lo"], "the pipeline did not run inside the isolated namespace"
    netns.assert_isolated()

    registry = privacy_run["artifacts"] / "registry"
    merged = [p.parent for p in registry.rglob("config.json") if any(p.parent.glob("*.safetensors"))]
    assert merged, f"no merged model (config.json + safetensors) under {registry}"


def test_no_pii_beyond_the_raw_source_stage(privacy_run):
    completed(privacy_run)
    artifacts, home = privacy_run["artifacts"], privacy_run["home"]

    # Control: the raw ingest output holds every planted value of every source, so the search can find them.
    raw = find_in_tree(artifacts / RAW_SOURCE_FOLDER, NEEDLES)
    for source in SOURCES:
        found = {n for path, ns in raw.items() if path.startswith(f"{source}/{DROP}") for n in ns}
        assert {EMAIL, PHONE, IBAN, CARD} <= found, f"{source}: planted PII was not ingested ({found})"

    # The planted rows reached the prepared data, scrubbed (so they were trained or evaluated on, not dropped).
    normalised = file_text(artifacts / "prepared" / "normalised" / "examples.parquet").decode()
    for placeholder in ("[EMAIL_", "[PHONE_", "[IBAN_", "[CARD_", "[PERSON_", "[ADDRESS_", "[ID_", "[IP_",
                        "[ACCOUNT_"):
        assert placeholder in normalised, placeholder
    assert f"/{DROP}." in normalised  # ids are <source>/<drop file name>/<row>

    leaks = {path: ns for path, ns in find_in_tree(artifacts, NEEDLES).items()
             if Path(path).parts[0] != RAW_SOURCE_FOLDER}
    assert not leaks, f"PII outside {RAW_SOURCE_FOLDER}/ (the raw ingest stage): {leaks}"
    assert any(artifacts.rglob("*.safetensors")) and (artifacts / "evaluations").is_dir(), \
        "the pipeline did not get as far as models and evaluations: nothing downstream was searched"

    texts = privacy_run["texts"]
    assert len(texts) > 100, "the event log was not read (nothing to search)"
    logged = [t[:300] for t in texts if any(n in t for n in NEEDLES)]
    assert not logged, f"PII in the Dagster event log: {logged[:3]}"
    assert not find_in_tree(home, NEEDLES), "PII in DAGSTER_HOME (run storage, compute logs)"
    assert privacy_run["lines"], "the pipeline's log was not captured"
    assert not [line for line in privacy_run["lines"] if any(n in line for n in NEEDLES)]
    output = privacy_run["out"].stdout + privacy_run["out"].stderr
    assert not [n for n in NEEDLES if n in output], "PII in the pipeline's output"


def test_planted_secrets_stay_out_of_runs_and_artifacts(privacy_run):
    completed(privacy_run)
    marker, texts = privacy_run["marker"], privacy_run["texts"]
    assert len(texts) > 100, "the event log was not read (nothing to search)"

    leaks = [t[:200] for t in texts if marker in t]
    assert not leaks, f"a planted secret reached the Dagster event log: {leaks[:3]}"
    assert privacy_run["lines"], "the pipeline's log was not captured"
    assert not [line for line in privacy_run["lines"] if marker in line]
    assert marker not in privacy_run["out"].stdout + privacy_run["out"].stderr, "a planted secret was printed"
    artifacts = privacy_run["artifacts"]
    assert any(artifacts.rglob("*.safetensors")), "the pipeline wrote no model: nothing was really searched"
    assert not find_in_tree(artifacts, [marker]), "a planted secret was written into the artifacts"
    assert not find_in_tree(privacy_run["home"], [marker]), \
        "a planted secret was written into DAGSTER_HOME (run storage, logs)"
