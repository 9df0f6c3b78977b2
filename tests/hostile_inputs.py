"""A seeded generator of hostile drops, and the oracle to judge what the pipeline made of them.

Valid rows of every source are mixed with malformed ones of many kinds (deep nesting, NUL, lone surrogates,
empty or blank user turns, blank tasks, broken JSON, bad bytes, rows over the size limit, wrong types), in JSONL,
CSV and Parquet, and with hostile files around them: an unclosed CSV quote, a header-less CSV, CR-only line ends,
sub-folders, compressed files and symlinks out of the data folder in a folder drop, names that are not UTF-8,
names near the 255-byte limit, names that sanitise to the same key. Every physical record is recorded as a
``Planted`` (where it is, whether it is well-formed), so a test can ask: is each in the ledger exactly once, and
did any malformed one reach the training data?
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MAX_ROW = 20_000  # the catalog's max_row_bytes in the fuzz settings
WORDS = ("lamp candle order parcel refund blanket chair walnut linen courier invoice voucher colour size "
         "warranty shelf cushion table mirror rug basket kettle spoon glass vase towel duvet pillow bench hook "
         "drawer frame clock plate bowl jug tray crate stool shade bulb cable socket screw hinge handle").split()
TASK = "policy_qa"
MALFORMED = ("deep_json", "nul", "surrogate", "empty_user", "blank_user", "blank_task", "missing_task", "huge",
             "empty_answer")
JSONL_ONLY = ("broken_json", "bad_utf8", "non_object", "wrong_type")  # kinds only a JSON line can hold
DEEP_FIELD = {"reviewed_interactions": "messages", "expert_annotations": "annotation"}  # parsed from text


@dataclass(frozen=True)
class Planted:
    source: str
    drop: str       # the drop's name on disk
    file: str       # file in a folder drop; "" for a single-file drop
    line: int       # physical line of a text file (its first line for a CSV record), record index of a Parquet
    valid: bool     # a well-formed row (kept, filtered or a duplicate); False: must never reach training
    kind: str


class _Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.n = 0

    def text(self) -> str:
        self.n += 1
        return f"Item {self.n}: " + " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(8, 14)))

    def record(self, source: str) -> dict:
        q, a = self.text() + "?", self.text() + "."
        if source == "reviewed_interactions":
            return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                    "task": TASK, "verdict": "approved", "reviewed_at": "2026-11-01T10:00:00"}
        if source == "corrected_outputs":
            return {"prompt": q, "model_output": "draft", "corrected_output": a, "task": TASK,
                    "corrected_at": "2026-11-02T10:00:00"}
        if source == "expert_annotations":
            return {"doc_id": str(self.n), "document": q, "annotation": json.dumps({"answer": a}), "task": TASK,
                    "annotated_at": "2026-11-03T10:00:00"}
        return {"prompt": q, "completion": a, "score": 0.9, "task": TASK}

    def spoil(self, source: str, rec: dict, kind: str) -> dict:
        """``rec`` made malformed in the way ``kind`` names (values that JSON, CSV and Parquet can all hold)."""
        user = {"reviewed_interactions": ("messages", 0), "expert_annotations": ("document", None)}.get(
            source, ("prompt", None))
        answer = {"reviewed_interactions": ("messages", 1), "corrected_outputs": ("corrected_output", None),
                  "expert_annotations": ("annotation", None)}.get(source, ("completion", None))

        def put(where, value):
            key, index = where
            if index is None:
                rec[key] = value if key != "annotation" else json.dumps({"answer": value})
            else:
                rec[key][index]["content"] = value

        if kind == "deep_json":
            depth = self.rng.choice([100, 3000])  # parses but nests too deep / beyond Python's recursion limit
            # JSONL writes it as a JSON value, CSV and Parquet as the text a rule parses
            rec[DEEP_FIELD.get(source, "meta")] = "[" * depth + "]" * depth
        elif kind in ("nul", "surrogate"):
            key, index = user
            text = rec[key][index]["content"] if index is not None else rec[key]
            put(user, text + ("\0" if kind == "nul" else "\ud800"))
        elif kind in ("empty_user", "blank_user"):
            put(user, "" if kind == "empty_user" else " \t  ")
        elif kind == "blank_task":
            rec["task"] = "   "
        elif kind == "missing_task":
            rec.pop("task")
        elif kind == "wrong_type":
            rec["task"] = 7
        elif kind == "huge":
            put(user, "x" * (MAX_ROW + 100))
        elif kind == "empty_answer":
            put(answer, "   ")
        return rec


def _jsonl_line(rec: dict, kind: str) -> bytes:
    if kind == "broken_json":
        return json.dumps(rec)[:-7].encode()
    if kind == "bad_utf8":
        return json.dumps(rec).replace("Item", "It\udcffem").encode("utf-8", "surrogateescape")
    if kind == "non_object":
        return json.dumps([rec]).encode()
    if kind == "deep_json" and (key := "meta" if "meta" in rec else "messages" if "messages" in rec else ""):
        text = json.dumps({k: v for k, v in rec.items() if k != key})
        return (text[:-1] + f', "{key}": ' + rec[key] + "}").encode()
    return json.dumps(rec).encode()  # ensure_ascii: a lone surrogate becomes the escape \ud800, as exports write it


def _csv_cells(rec: dict, columns: list[str]) -> list[str]:
    return [v if isinstance(v, str) else json.dumps(v) for v in (rec.get(c, "") for c in columns)]


def _csv_bytes(cells: list[str], eol: str = "\r\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=eol).writerow(cells)
    return buf.getvalue().encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8


def _lines(raw: bytes) -> int:
    return raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n")


COLUMNS = {"reviewed_interactions": ["messages", "task", "verdict", "reviewed_at"],
           "corrected_outputs": ["prompt", "model_output", "corrected_output", "task", "corrected_at"],
           "expert_annotations": ["doc_id", "document", "annotation", "task", "annotated_at"],
           "teacher_synthetic": ["prompt", "completion", "score", "task"]}


def generate(root: Path, seed: int = 0, rows: int = 10) -> list[Planted]:
    """Write hostile drops of every source under ``root/<source>/``; return every physical record planted."""
    g = _Gen(seed)
    planted: list[Planted] = []
    outside = root.parent / f"outside-{seed}"
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.jsonl"
    secret.write_text(json.dumps(g.record("teacher_synthetic")) + "\n")

    def rows_of(source: str, jsonl_file: bool) -> list[tuple[dict, str]]:
        kinds = [k for k in MALFORMED + (JSONL_ONLY if jsonl_file else ())
                 if jsonl_file or k != "deep_json" or source in DEEP_FIELD]
        out = []
        for _ in range(rows):
            kind = g.rng.choice(kinds) if g.rng.random() < 0.5 else "valid"
            out.append((g.record(source) if kind == "valid" else g.spoil(source, g.record(source), kind), kind))
        return out

    def jsonl(folder: Path, name: str | bytes, source: str, drop: str, file: str = "", eol: bytes = b"\n"):
        lines = rows_of(source, True)
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(name))))
        path.write_bytes(b"".join(_jsonl_line(r, k) + eol for r, k in lines))
        planted.extend(Planted(source, drop, file, i, k == "valid", k) for i, (_, k) in enumerate(lines, 1))

    def csv_file(folder: Path, name: str, source: str, eol: str = "\r\n", header: bool = True,
                 unclosed: bool = False, multiline: bool = False):
        cols = COLUMNS[source]
        data, line = (_csv_bytes(cols, eol), 2) if header else (b"", 1)
        for i, (rec, kind) in enumerate(rows_of(source, False)):
            if multiline and kind == "valid" and not (unclosed and i == 2):
                key = "document" if source == "expert_annotations" else "prompt" if "prompt" in rec else None
                if key:
                    rec[key] = rec[key].replace(": ", ":\nsecond line ", 1)
            if unclosed and i == 2:
                kind = "unclosed_quote"
                cells = _csv_cells(rec, cols)
                raw = _csv_bytes(cells[:-1], eol)[:-len(eol)] + b',"never closed ' + eol.encode()
            else:
                raw = _csv_bytes(_csv_cells(rec, cols), eol)
            planted.append(Planted(source, name, "", line, kind == "valid" and header, kind if header else "no_header"))
            line += _lines(raw)
            data += raw
        (folder / name).write_bytes(data)

    def parquet(folder: Path, name: str, source: str):
        recs = []
        for rec, kind in rows_of(source, False):
            if kind == "surrogate":  # Parquet text is UTF-8: it cannot hold one
                rec, kind = g.spoil(source, g.record(source), "nul"), "nul"
            recs.append((rec, kind))
        frame = pd.DataFrame([{c: (v if isinstance(v, str) or v is None else json.dumps(v))
                               for c, v in r.items()} for r, _ in recs])
        frame.to_parquet(folder / name)
        planted.extend(Planted(source, name, "", i, k == "valid", k) for i, (_, k) in enumerate(recs, 1))

    for source in COLUMNS:
        folder = root / source
        folder.mkdir(parents=True, exist_ok=True)
        jsonl(folder, f"s{seed}-plain.jsonl", source, f"s{seed}-plain.jsonl", eol=b"\r\n")
        jsonl(folder, f"s{seed}-old mac.jsonl", source, f"s{seed}-old mac.jsonl", eol=b"\r")
        csv_file(folder, f"s{seed}-unclosed.csv", source, unclosed=True, multiline=True)
        csv_file(folder, f"s{seed}-cr.csv", source, eol="\r")
        parquet(folder, f"s{seed}-table.parquet", source)
    # names: sanitising to one key, not UTF-8, near the 255-byte limit
    t = root / "teacher_synthetic"
    for name in (f"s{seed}_late.jsonl", f"s{seed} late.jsonl", f"s{seed}_\udcff.jsonl", f"s{seed}__.jsonl",
                 f"s{seed}-" + "n" * 240 + ".jsonl"):
        jsonl(t, name, "teacher_synthetic", name)
    csv_file(root / "corrected_outputs", f"s{seed}-noheader.csv", "corrected_outputs", header=False)
    # a folder drop: files, a sub-folder, a compressed file, a symlink out of the data folder
    box = root / "reviewed_interactions" / f"s{seed}-box"
    box.mkdir()
    jsonl(box, "a.jsonl", "reviewed_interactions", box.name, "a.jsonl")
    (box / "sub").mkdir()
    (box / "sub" / "b.jsonl").write_text(json.dumps(g.record("reviewed_interactions")) + "\n")
    with gzip.open(box / "c.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(g.record("reviewed_interactions")) + "\n")
    (box / "d.jsonl").symlink_to(secret)
    planted += [Planted("reviewed_interactions", box.name, f, 0, False, kind)
                for f, kind in (("c.jsonl.gz", "compressed"), ("d.jsonl", "symlink_out"), ("sub", "nested"))]
    (t / f"s{seed}-link.jsonl").symlink_to(secret)
    planted.append(Planted("teacher_synthetic", f"s{seed}-link.jsonl", "", 0, False, "symlink_out"))
    return planted
