"""``privft dedup IN.jsonl --out OUT.jsonl [--threshold T] [--num-perm N]``: deduplicate a JSONL file.

Each input line is an object with ``id`` and ``text`` (optionally ``source`` and ``created_at``, used by the
survivor rule). Each output line is ``{"id": ..., "duplicate_of": ...}`` (null for rows kept), exactly one per
input row, in input order. A malformed input line stops the run with exit code 2 and a message naming the
line; nothing is written then. Also runnable as ``python -m resources.dedup.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


class InputError(Exception):
    """A problem with the input file the user has to fix; reported without a traceback."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="privft dedup",
                                description="Mark exact and near-duplicate rows of a JSONL file of {id, text}.")
    p.add_argument("input", type=Path, help="JSONL file, one {\"id\", \"text\"} object per line")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write {\"id\", \"duplicate_of\"} lines to")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity of near duplicates (default 0.8)")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    return p


def read_items(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            lines = list(fh)
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); re-encode the file as UTF-8")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: not valid JSON ({e.msg} at character {e.pos + 1})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object with \"id\" and \"text\", got {type(obj).__name__}")
        if "id" not in obj or "text" not in obj:
            missing = [k for k in ("id", "text") if k not in obj]
            raise InputError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
        item_id, text = obj["id"], obj["text"]
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
            raise InputError(f"{where}: \"id\" must be a string or integer, got {type(item_id).__name__}")
        if not isinstance(text, str):
            raise InputError(f"{where}: \"text\" must be a string, got {type(text).__name__}")
        key = str(item_id)
        if key in seen:
            raise InputError(f"{where}: id {item_id!r} already used on line {seen[key]}; ids must be unique")
        seen[key] = number
        rows.append({"id": item_id, "text": text, "source": str(obj.get("source") or ""),
                     "created_at": str(obj.get("created_at") or "")})
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dedup"] and not Path("dedup").exists():  # tolerate being handed the subcommand name too
        argv = argv[1:]
    args = _parser().parse_args(argv)
    from resources.dedup.engine import DedupEngine

    engine = DedupEngine(threshold=args.threshold, num_perm=args.num_perm)
    problems = engine.check()
    for problem in problems:  # each begins with the setting's name: name it as the flag that sets it
        name, rest = problem.split(" ", 1)
        print(f"privft dedup: --{name.replace('_', '-')} {rest}", file=sys.stderr)
    if problems:
        return 2
    try:
        rows = read_items(args.input)
    except InputError as e:
        print(f"privft dedup: {e}", file=sys.stderr)
        return 2

    import pandas as pd

    from resources.storage import atomic_file

    items = pd.DataFrame(rows, columns=["id", "text", "source", "created_at"])
    items["id"] = items["id"].astype(str)
    result = engine.deduplicate(items)
    original_id = {str(r["id"]): r["id"] for r in rows}  # integer ids come back as integers
    with atomic_file(args.out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row, dup in zip(rows, result["duplicate_of"].tolist()):
            line = {"id": row["id"], "duplicate_of": None if dup is None else original_id[dup]}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    kinds = result["kind"].value_counts().to_dict()
    print(f"privft dedup: {len(rows)} rows, {kinds.get('exact', 0)} exact and {kinds.get('near', 0)} near "
          f"duplicates -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
