"""Preference pairs from filled rating sheets: the prompt, the answer the rater picked, and the one they did not.

A sheet lives in ``Layout.ratings()/<sheet>/`` (``assets/ratings.py`` writes ``sheet.csv`` and ``key.json``, a
person saves ``filled.csv`` beside them). Every row of a filled sheet is an input: an A or B rating becomes a
pair, a tie is filtered (no preference), and a row the win-rate count refuses is rejected with the same reason.
The answers are taken from the exported ``sheet.csv`` when it is there, so a spreadsheet that reformatted the
cells on the way back cannot change what the rater saw. The prompt is the held-out example's own messages
(looked up by item id), or else parsed back from the sheet's "[role]" text.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping

from resources.preference.schema import RATINGS, parse_prompt_text
from resources.schema import FILTERED, REJECTED, prompt_messages

FILLED, KEY, SHEET = "filled.csv", "key.json", "sheet.csv"
UNREAD = "filled.csv"  # the id suffix of a sheet that cannot be read at all (line 0)


def _raw(sheet: str, line: int, item: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"{RATINGS}/{sheet}/{item}", "source": RATINGS, "drop": sheet, "file": FILLED, "line": line,
            "task": "", "prompt": [], "chosen": "", "rejected": "", "state": "", "reason": "",
            "origin_ids": [f"{RATINGS}/{sheet}/{item}"], **fields}


def _exported(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / SHEET
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {str(r.get("item_id", "")): r for r in csv.DictReader(fh)}


def sheet_pairs(folder: Path, examples: Mapping[str, dict], tombstones: frozenset[str] = frozenset()
                ) -> list[dict[str, Any]]:
    """One raw pair per row of ``folder/filled.csv``; rows that cannot become a pair carry ``state`` and
    ``reason``. ``examples``: held-out example id -> example (for the prompt messages and task)."""
    from resources.evaluation.ratings import read_filled_sheet

    sheet = folder.name
    try:
        sides = json.loads((folder / KEY).read_text(encoding="utf-8"))["tuned_side"]
        rows = read_filled_sheet(folder / FILLED, sides)
        exported = _exported(folder)
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        why = f"unreadable: {type(exc).__name__}: {exc}"[:300]
        return [_raw(sheet, 0, UNREAD, state=REJECTED, reason=f"{why}; fix or remove {folder / FILLED}")]
    out = []
    for row in rows:
        item = row["item_id"]
        if row["reason"]:  # keyed by line: a repeated or unknown item id must not collide with a counted one
            out.append(_raw(sheet, row["line"], f"line-{row['line']}", state=REJECTED,
                            reason=f"invalid rating: {row['reason']}"))
            continue
        raw = _raw(sheet, row["line"], item)
        if item in tombstones:
            out.append({**raw, "state": FILTERED, "reason": "erased: listed in the erasure tombstones"})
            continue
        if row["choice"] == "tie":
            out.append({**raw, "state": FILTERED, "reason": "tie: the rater preferred neither answer"})
            continue
        shown = exported.get(item, row)
        a, b = shown.get("response_a") or "", shown.get("response_b") or ""
        example = examples.get(item)
        prompt = prompt_messages(example) if example else parse_prompt_text(shown.get("prompt") or "")
        chosen, rejected = (a, b) if row["choice"] == "A" else (b, a)
        out.append({**raw, "task": str(example.get("task", "")) if example else "rated", "prompt": prompt,
                    "chosen": chosen, "rejected": rejected})
    return out


def rated_pairs(ratings_root: Path, examples: Mapping[str, dict], tombstones: frozenset[str] = frozenset()
                ) -> list[dict[str, Any]]:
    """Raw pairs of every filled sheet under ``ratings_root``, in sheet order."""
    root = Path(ratings_root)
    folders = sorted(p for p in root.iterdir() if (p / FILLED).is_file()) if root.is_dir() else []
    return [pair for folder in folders for pair in sheet_pairs(folder, examples, tombstones)]
