"""Credentials come only from the environment or secret files, and never end up in the run history or artifacts.

Two proofs: (1) a secret planted in every credential variable the pipeline or its libraries read does not appear
in any event, run record, materialisation or file the pipeline writes: that is
tests/test_privacy_pipeline.py::test_planted_secrets_stay_out_of_runs_and_artifacts (one pipeline run there serves
this proof, the PII proof and the network-namespace proof); (2) here: no file of the repository holds something
shaped like a credential, except the documented test-only placeholders below.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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
