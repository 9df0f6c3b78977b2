"""``python -m resources.dedup.cli IN.jsonl --out OUT.jsonl``: one output line per input id, clear input errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
VOCAB = ("order parcel refund invoice delivery customer address account password reset shipping label warehouse "
         "return policy weekend support ticket priority escalation agent courier tracking number payment").split()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "resources.dedup.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, list[dict]]:
    rng = np.random.default_rng(0)
    rows = [{"id": f"r{i}", "text": " ".join(rng.choice(VOCAB, 120))} for i in range(20)]
    words = rows[3]["text"].split()
    words[50] = "typo"
    rows.append({"id": "r3-edited", "text": " ".join(words)})
    rows.append({"id": 7, "text": rows[5]["text"].upper()})  # exact duplicate (case only), integer id
    rows.append({"id": "empty", "text": ""})
    path = write_lines(tmp_path / "in.jsonl", [json.dumps(r) for r in rows])
    return path, rows


def test_one_output_line_per_input_id_in_order(corpus, tmp_path):
    path, rows = corpus
    out = tmp_path / "out.jsonl"
    proc = run_cli(str(path), "--out", str(out), "--threshold", "0.8", "--num-perm", "128")
    assert proc.returncode == 0, proc.stderr
    result = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in result] == [r["id"] for r in rows]
    assert all(set(r) == {"id", "duplicate_of"} for r in result)
    dup = {r["id"]: r["duplicate_of"] for r in result}
    assert dup["r3-edited"] == "r3"
    assert dup["r5"] == 7 and dup[7] is None  # smallest id wins ("7" < "r5"); integer ids come back as integers
    assert sum(v is not None for v in dup.values()) == 2
    assert "1 exact and 1 near" in proc.stderr


def test_malformed_line_exits_2_naming_the_line(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", ['{"id": "a", "text": "fine"}', '{"id": "b", "text": "also fine"}',
                                                 '{"id": "c", "text": '])
    out = tmp_path / "out.jsonl"
    proc = run_cli(str(path), "--out", str(out))
    assert proc.returncode == 2
    assert "line 3" in proc.stderr and "not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("line,message", [
    ('{"text": "no id"}', "missing 'id'"),
    ('{"id": "x", "text": 5}', '"text" must be a string'),
    ('["id", "text"]', "expected a JSON object"),
    ('{"id": "r0", "text": "again"}', "already used on line 1"),
])
def test_invalid_rows_exit_2(tmp_path, line, message):
    path = write_lines(tmp_path / "in.jsonl", ['{"id": "r0", "text": "first"}', line])
    proc = run_cli(str(path), "--out", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_input_file_exits_2(tmp_path):
    proc = run_cli(str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_main_callable_in_process(corpus, tmp_path):
    from resources.dedup.cli import main

    path, rows = corpus
    out = tmp_path / "o.jsonl"
    assert main(["dedup", str(path), "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(rows)
