"""Standard benchmark files for the forgetting check: MMLU-format multiple choice CSVs and GSM8K JSONL.

MMLU format: header ``question,choice0,choice1,choice2,choice3,answer`` with ``answer`` the 0-based index of
the right choice. A benchmark is named by a file, a folder of such CSVs, or a glob. GSM8K: one JSON object per
line with ``question`` and ``answer``, the final answer after ``####``.
"""

from __future__ import annotations

import csv
import glob
import json
import random
import re
from pathlib import Path
from typing import Any, Sequence

MC_COLUMNS = ("question", "choice0", "choice1", "choice2", "choice3", "answer")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class BenchmarkError(ValueError):
    pass


def resolve_benchmark_files(spec: str | Path) -> list[Path]:
    """The CSV files a spec names: one file, every ``*.csv`` in a folder, or a glob. Relative specs are tried
    from the working directory first, then from the project root (where the embedded sample lives)."""
    spec = str(spec)
    for base in (Path.cwd(), PROJECT_ROOT):
        p = Path(spec) if Path(spec).is_absolute() else base / spec
        if p.is_file():
            return [p]
        if p.is_dir():
            files = sorted(p.glob("*.csv"))
            if files:
                return files
        matches = sorted(Path(m) for m in glob.glob(str(p)) if Path(m).is_file())
        if matches:
            return matches
    raise BenchmarkError(f"benchmark {spec!r}: no such CSV file, folder of CSVs or glob match "
                         f"(looked in {Path.cwd()} and {PROJECT_ROOT}); set forgetting_benchmark to an existing path")


def load_multiple_choice(spec: str | Path) -> list[dict[str, Any]]:
    """Items ``{id, subject, question, choices[4], answer}``; id is ``<file stem>/<line>``."""
    items = []
    for path in resolve_benchmark_files(spec):
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in MC_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkError(f"{path}: header lacks {missing}; expected {','.join(MC_COLUMNS)}")
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1  # a quoted field may span lines: report where it began
                try:
                    answer = int(str(row["answer"]).strip())
                except ValueError:
                    answer = -1
                if not 0 <= answer <= 3 or any(row[c] is None for c in MC_COLUMNS):
                    raise BenchmarkError(f"{path}:{line}: answer must be an index 0-3 and all six columns present "
                                         f"(got answer={row.get('answer')!r}); fix or remove that row")
                items.append({"id": f"{path.stem}/{line}", "subject": path.stem.removesuffix("_test"),
                              "question": row["question"], "choices": [row[f"choice{k}"] for k in range(4)],
                              "answer": answer})
    return items


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_answer(text: str) -> str | None:
    """The final numeric answer: what follows the last ``####``, else the last number in the text; canonical
    (no thousands separators or currency, ``18.0`` -> ``18``). None when there is no number."""
    text = str(text)
    if "####" in text:
        found = _NUMBER.findall(text.rsplit("####", 1)[1])[:1]
    else:
        found = _NUMBER.findall(text)[-1:]
    if not found:
        return None
    s = found[0].replace(",", "")
    try:
        value = float(s)
    except ValueError:
        return None
    return str(int(value)) if value == int(value) else repr(value)


def load_gsm8k(path: str | Path) -> list[dict[str, Any]]:
    """Items ``{id, question, answer, final}``; id is ``gsm8k/<line>``."""
    path = Path(path)
    items = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                q, a = obj["question"], obj["answer"]
            except (ValueError, KeyError, TypeError) as exc:
                raise BenchmarkError(f"{path}:{line_no}: expected a JSON object with question and answer "
                                     f"({type(exc).__name__}: {exc})") from exc
            final = final_answer(a) if "####" in a else None
            if final is None:
                raise BenchmarkError(f"{path}:{line_no}: answer has no final number after '####'")
            items.append({"id": f"gsm8k/{line_no}", "question": q, "answer": a, "final": final})
    return items


def sample_items(items: Sequence[dict[str, Any]], size: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of ``size`` items in file order (all of them when size <= 0 or exceeds the count)."""
    if size <= 0 or size >= len(items):
        return list(items)
    picked = sorted(random.Random(seed).sample(range(len(items)), size))
    return [items[i] for i in picked]
