"""The dedup and evaluation engines are plain Python: ``privft dedup`` and the dedup benchmark never import
dagster, the engines' settings are dataclasses that ``check`` themselves, and the Dagster resources take their
fields from those dataclasses."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from resources.dedup.resource import Deduplicator
from resources.dedup.settings import DedupSettings
from resources.evaluation.evaluator import Evaluator
from resources.evaluation.settings import EvaluationSettings

REPO = Path(__file__).resolve().parents[1]


def _dagster_imported(importtime_stderr: str) -> list[str]:
    """Modules of the dagster package (``python -X importtime`` writes one line per imported module)."""
    names = [line.rsplit("|", 1)[-1].strip() for line in importtime_stderr.splitlines()
             if line.startswith("import time:")]
    return [n for n in names if n == "dagster" or n.startswith("dagster.")]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_privft_dedup_runs_without_dagster(tmp_path):
    rows = [{"id": 1, "text": "the parcel arrived two days late and the box was crushed"},
            {"id": 2, "text": "The parcel arrived two days late, and the box was crushed."},
            {"id": 3, "text": "please send me the invoice for order 1234 by email"}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = _run("-m", "pipelines.cli", "dedup", str(source), "--out", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == [{"id": 1, "duplicate_of": None}, {"id": 2, "duplicate_of": 1}, {"id": 3, "duplicate_of": None}]
    assert "import time:" in proc.stderr and _dagster_imported(proc.stderr) == []

    # a bad flag is still refused before any work, named as the flag
    bad = _run("-m", "pipelines.cli", "dedup", str(source), "--out", str(tmp_path / "x.jsonl"), "--num-perm", "1")
    assert bad.returncode == 2 and "privft dedup: --num-perm is 1: it must be at least 2" in bad.stderr
    assert not (tmp_path / "x.jsonl").exists() and _dagster_imported(bad.stderr) == []


def test_the_dedup_benchmark_runs_without_dagster():
    proc = _run("benchmarks/dedup.py", "--docs", "300", "--sample", "50", "--no-light-edits")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["recall"] > 0.9 and result["found_pairs"] > 0
    assert _dagster_imported(proc.stderr) == []


def test_both_engines_import_build_and_check_without_dagster():
    script = ("import sys\n"
              "from resources.dedup.engine import DedupEngine\n"
              "from resources.evaluation.engine import EvaluationEngine\n"
              "assert DedupEngine().check() == [] and EvaluationEngine().check() == []\n"
              "pairs = DedupEngine(threshold=0.5).self_pairs(['a b c d e f', 'a b c d e g', 'x y z'])\n"
              "assert [p[:2] for p in pairs] == [(0, 1)], pairs\n"
              "assert not [m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')]\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_settings_report_every_problem_and_resources_take_their_fields_from_them():
    problems = DedupSettings(threshold=0.0, num_perm=1, shingle_size=0, false_negative_weight=1.0, workers=-1).check()
    assert [p.split(" ", 1)[0] for p in problems] == ["threshold", "num_perm", "shingle_size",
                                                      "false_negative_weight", "workers"]
    problems = EvaluationSettings(primary_metric="token_f2", max_new_tokens=0, few_shot_k=-1,
                                  forgetting_benchmark="/nope/mmlu", gsm8k_path="/nope.jsonl").check()
    assert problems[0] == "primary_metric 'token_f2' is unknown; did you mean 'token_f1'?"
    assert [p.split(" ", 1)[0] for p in problems[1:]] == ["max_new_tokens", "few_shot_k", "forgetting_benchmark:",
                                                          "gsm8k_path"]
    for resource, settings in ((Deduplicator, DedupSettings), (Evaluator, EvaluationSettings)):
        defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                    for f in dataclasses.fields(settings)}
        assert {k: v.get_default(call_default_factory=True) for k, v in resource.model_fields.items()} == defaults
    assert Deduplicator(threshold=0.5).engine().threshold == 0.5
    assert Evaluator(few_shot_k=1).engine().pick_shots([{"task": "a", "id": 1}], ["a"]) == {"a": [{"task": "a",
                                                                                                   "id": 1}]}
