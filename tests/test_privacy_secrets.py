"""Credentials come only from the environment or secret files, and never end up in the run history or artifacts.

Two proofs: (1) a secret planted in every credential variable the pipeline or its libraries read does not appear
in any event, run record, materialisation or file the pipeline writes; (2) no file of the repository holds
something shaped like a credential, except the documented test-only placeholders below.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# --- (2) static: no credential literals in the repository ---------------------------------------------------
_KEY = (r"(?P<key>[A-Za-z_]*(?:password|passwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|private[_-]?key)"
        r"[A-Za-z_]*)")
CREDENTIAL_PATTERNS = {
    # key = "literal" / key: 'literal' in any file (a quoted value of 6+ characters that is not a reference)
    "quoted credential": re.compile(rf"(?i)\b{_KEY}[\"']?\s*[:=]\s*[\"'](?P<value>[^\"'\s{{}}$<>]{{6,}})[\"']"),
    # key: literal in YAML / .env / ini / toml, unquoted
    "config credential": re.compile(
        rf"(?im)^\s*(?:export\s+)?{_KEY}\s*[:=]\s*(?P<value>[^\s\"'#{{$<][^\s#]{{5,}})\s*(?:#.*)?$"),
    "credentials in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://(?P<value>[^/\s:@'\"]+:[^/\s@'\"{}$<]+)@"),
    "AWS access key id": re.compile(r"\b(?P<value>(?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    "private key": re.compile(r"(?P<value>-----BEGIN [A-Z ]*PRIVATE KEY-----)"),
    "Hugging Face token": re.compile(r"\b(?P<value>hf_[A-Za-z0-9]{30,})\b"),
    "GitHub token": re.compile(r"\b(?P<value>gh[pousr]_[A-Za-z0-9]{36,})\b"),
    "Slack token": re.compile(r"\b(?P<value>xox[abprs]-[A-Za-z0-9-]{10,})\b"),
}
CONFIG_SUFFIXES = (".yaml", ".yml", ".env", ".ini", ".cfg", ".toml", ".conf", ".properties")
# A key that names where a secret lives (postgresqlSecretName, password_file, secretRef) holds no secret.
REFERENCE_KEY = re.compile(r"(?i)(name|names|ref|file|path|env|var|mount|dir)$")
# Documented placeholders (SECURITY.md, "Secrets"): the throwaway credentials of the servers the tests start on
# 127.0.0.1 for one test session (PostgreSQL, and the S3 stand-in's conventional "testing" keys), and the dummy
# value a test proves is refused as a plain pod environment variable. Nothing else may match.
ALLOWED = {("tests/servers.py", "privft-test-password"), ("tests/servers.py", "testing"),
           ("tests/test_prod_kubernetes.py", "hunter2")}


def find_credentials(name: str, text: str) -> list[tuple[str, str]]:
    """(kind, matched value) for everything in ``text`` that looks like a credential."""
    hits = []
    for kind, pattern in CREDENTIAL_PATTERNS.items():
        if kind == "config credential" and not name.endswith(CONFIG_SUFFIXES):
            continue
        for m in pattern.finditer(text):
            value, key = m.group("value"), m.groupdict().get("key") or ""
            if key and REFERENCE_KEY.search(key):
                continue
            if kind == "config credential" and value.lower() in ("true", "false", "null", "none", "required"):
                continue
            hits.append((kind, value))
    return hits


def repository_files() -> list[str]:
    """Tracked files plus new files that are not ignored: what the next commit can contain."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return [p for p in out.stdout.splitlines() if (REPO / p).is_file()]


def test_the_detector_finds_credentials():
    """Control: each pattern catches a typical leak (strings built at run time so this file stays clean)."""
    pw = "hunter2" + "hunter2"
    samples = {
        "settings.py": f'DB_PASSWORD = "{pw}"',
        "config.yaml": f"  password: {pw}\n",
        ".env": f"export AWS_SECRET_ACCESS_KEY={pw}Z9\n",
        "run.sh": "psql postgresql://privft:" + pw + "@db.internal:5432/x",
        "keys.txt": "AKIA" + "ABCDEFGHIJKLMNOP",
        "id_rsa": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "token.txt": "hf_" + "a1B2c3D4" * 5,
    }
    for name, text in samples.items():
        assert find_credentials(name, text), f"not detected: {name}: {text}"
    # References to the environment are how credentials are meant to be passed: not findings.
    clean = {
        "deploy.yaml": "      password: {env: PRIVFT_PG_PASSWORD}\n",
        "settings.py": 'password = os.environ["PRIVFT_PG_PASSWORD"]\npassword: str = ""',
        "compose.yml": "      POSTGRES_PASSWORD: ${PRIVFT_PG_PASSWORD}\n",
        "README.md": "export PRIVFT_PG_HOST=... PRIVFT_PG_PASSWORD=...",
        "values.yaml": "  postgresqlSecretName: privft-postgresql\n  password_file: /run/secrets/pg\n",
    }
    for name, text in clean.items():
        assert not find_credentials(name, text), f"false alarm: {name}: {find_credentials(name, text)}"


def test_no_credentials_in_the_repository():
    findings = []
    for rel in repository_files():
        data = (REPO / rel).read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (sample Parquet): no text credentials to find
        text = data.decode("utf-8", errors="replace")
        findings += [(rel, kind, value) for kind, value in find_credentials(rel, text) if (rel, value) not in ALLOWED]
    assert not findings, "credential-like literals in the repository (use environment variables or secret " \
                         f"files, see SECURITY.md): {findings}"


# --- (1) runtime: a planted secret never reaches the run history or the artifacts -------------------------
# Every credential variable something in the stack reads: the production instance (PostgreSQL), object storage
# clients, and the Hugging Face token the hub libraries would pick up implicitly.
SECRET_VARIABLES = ("PRIVFT_PG_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "HF_TOKEN",
                    "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY")


def grep_tree(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}: {n.decode()}" for n in needles if n in data]
    return hits


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


@pytest.mark.slow
def test_planted_secrets_stay_out_of_runs_and_artifacts(tmp_path, monkeypatch):
    import dagster as dg

    from conftest import pipeline_settings
    from pipelines.definitions import build_definitions
    from pipelines.run_all import run_pipeline

    marker = "privft-canary-" + secrets.token_hex(12)
    planted = {var: f"{marker}-{var.lower()}" for var in SECRET_VARIABLES}
    for var, value in planted.items():
        monkeypatch.setenv(var, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    settings = pipeline_settings(tmp_path, trainer={"max_steps": 4, "save_every": 2})

    lines: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_pipeline(build_definitions(settings), instance, log=lines.append)
        runs = instance.get_runs()
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        texts = event_log_texts(instance)
    assert len(texts) > 100, "the event log was not read (nothing to search)"

    leaks = [t[:200] for t in texts if marker in t]
    assert not leaks, f"a planted secret reached the Dagster event log: {leaks[:3]}"
    assert not [line for line in lines if marker in line]
    needle = [marker.encode()]
    artifacts = tmp_path / "artifacts"
    assert any(artifacts.rglob("*.safetensors")), "the pipeline wrote no model: nothing was really searched"
    assert not grep_tree(artifacts, needle), "a planted secret was written into the artifacts"
    assert not grep_tree(home, needle), "a planted secret was written into DAGSTER_HOME (run storage, logs)"
