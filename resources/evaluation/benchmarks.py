"""Standard benchmark files for the forgetting check: MMLU-format multiple choice CSVs and GSM8K JSONL.

MMLU format: header ``question,choice0,choice1,choice2,choice3,answer`` with ``answer`` the 0-based index of
the right choice; the subject is a ``subject`` column when there is one, else the file stem less ``_test``
(MMLU ships one ``<subject>_test.csv`` per subject). A benchmark is named by a file, a folder of such CSVs, or a
glob. GSM8K: one JSON object per line with ``question`` and ``answer``, the final answer after ``####``.

The shipped ``data/benchmarks/general_knowledge.csv`` is generated arithmetic and capitals, not a benchmark: a
model can forget a great deal without it showing there, so results on it are labelled a smoke check.
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
TOY_BENCHMARK = PROJECT_ROOT / "data" / "benchmarks" / "general_knowledge.csv"


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
                subject = (row.get("subject") or "").strip() or path.stem.removesuffix("_test")
                items.append({"id": f"{path.stem}/{line}", "subject": subject,
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


def stratified_sample(items: Sequence[dict[str, Any]], per_subject: int, seed: int) -> list[dict[str, Any]]:
    """``per_subject`` items of every subject (all of a smaller one), in file order. Each subject draws from its
    own generator seeded by (seed, subject), so adding or removing a subject leaves the others' items alone."""
    by_subject: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_subject.setdefault(it["subject"], []).append(i)
    picked: list[int] = []
    for subject, indices in sorted(by_subject.items()):
        if per_subject >= len(indices):
            picked += indices
        else:  # a str seed goes through sha512: the same on every machine and under any PYTHONHASHSEED
            picked += random.Random(f"{seed}/{subject}").sample(indices, per_subject)
    return [items[i] for i in sorted(picked)]


def benchmark_sample(spec: str | Path, *, sample_size: int, per_subject: int, seed: int) -> list[dict[str, Any]]:
    """The items the forgetting check scores: ``per_subject`` from every subject when > 0, else ``sample_size``
    drawn from all items. The one place both the check and the leak guard on training data take them from."""
    items = load_multiple_choice(spec)
    return stratified_sample(items, per_subject, seed) if per_subject > 0 else sample_items(items, sample_size, seed)


def is_smoke_benchmark(spec: str | Path) -> bool:
    """True when every file the spec names is the generated toy (there, or a byte-identical copy)."""
    toy = TOY_BENCHMARK.read_bytes() if TOY_BENCHMARK.is_file() else None
    return all(p.resolve() == TOY_BENCHMARK or (toy is not None and p.stat().st_size == len(toy)
                                                and p.read_bytes() == toy)
               for p in resolve_benchmark_files(spec))
