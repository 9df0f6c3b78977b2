"""What the preference pairs must hold, read back from the files rather than trusted from the build's stats, so
a bug in the build cannot vouch for itself.

- Accounting: every input pair has exactly one ledger row (every row each corrections drop read, every record of
  every filled rating sheet, counted here with a plain CSV reader), and the kept pairs are exactly the rows of
  train.parquet and eval.parquet, none in both.
- No leakage across the stages: no training pair asks a prompt of the SFT held-out sets.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pandas as pd

from resources.layout import Layout
from resources.preference.rated import FILLED, KEY
from resources.preference.schema import RATINGS, fold, prompt_of, prompt_text
from resources.schema import KEPT, LEDGER_COLUMNS, ROW_STATES
from resources.sources.model_outputs import SOURCE


def _sheet_records(folder: Path) -> int:
    """Non-blank CSV records after the header; a sheet the build cannot read at all (no key, no header naming
    item_id and rating, not CSV) stands as one rejected row."""
    try:
        json.loads((folder / KEY).read_text(encoding="utf-8"))["tuned_side"]
        with open(folder / FILLED, newline="", encoding="utf-8-sig") as fh:
            records = [r for r in csv.reader(fh) if r]
    except (OSError, ValueError, KeyError, TypeError, csv.Error):
        return 1
    if not records or not {"item_id", "rating"} <= set(records[0]):
        return 1
    return len(records) - 1


def expected_inputs(layout: Layout) -> Counter:
    """(source, drop) -> input pairs."""
    expected: Counter = Counter()
    for drop_dir in layout.source_drops(SOURCE):
        ledger = pd.read_parquet(drop_dir / "ledger.parquet", columns=["drop"])
        expected[(SOURCE, drop_dir.name)] += len(ledger)
    ratings = layout.ratings()
    for folder in sorted(p for p in ratings.iterdir() if (p / FILLED).is_file()) if ratings.is_dir() else []:
        expected[(RATINGS, folder.name)] += _sheet_records(folder)
    return expected


def accounting_problems(layout: Layout) -> tuple[pd.DataFrame, list[str]]:
    """(per source and drop: pairs in, each state, balanced; problems, [] when the books balance)."""
    folder = layout.preferences()
    ledger = pd.read_parquet(folder / "ledger.parquet")
    train, evals = (pd.read_parquet(folder / f"{side}.parquet", columns=["id"])["id"] for side in ("train", "eval"))
    problems = []
    if list(ledger.columns) != list(LEDGER_COLUMNS):
        problems.append(f"ledger columns {list(ledger.columns)} are not {list(LEDGER_COLUMNS)}")
    if ledger["id"].duplicated().any():
        problems.append(f"{int(ledger['id'].duplicated().sum())} pairs have more than one ledger row")
    if not ledger["state"].isin(ROW_STATES).all():
        problems.append(f"unknown states {sorted(set(ledger['state']) - set(ROW_STATES))}")
    kept = set(ledger.loc[ledger["state"] == KEPT, "id"])
    if kept != set(train) | set(evals):
        problems.append(f"{len(kept - set(train) - set(evals))} kept pairs are in neither train nor eval, "
                        f"{len((set(train) | set(evals)) - kept)} written pairs are not kept in the ledger")
    if both := set(train) & set(evals):
        problems.append(f"{len(both)} pairs are in train and eval: {sorted(both)[:5]}")
    states = ledger.groupby(["source", "drop"])["state"].value_counts().unstack(fill_value=0)
    expected = expected_inputs(layout)
    rows = []
    for key in sorted(set(expected) | set(states.index)):
        got = {s: int(states.loc[key, s]) if key in states.index and s in states.columns else 0 for s in ROW_STATES}
        n_in, accounted = expected.get(key, 0), sum(got.values())
        if n_in != accounted:
            problems.append(f"{key[0]}/{key[1]}: {n_in} pairs in, {accounted} in the ledger")
        rows.append({"source": key[0], "drop": key[1], "pairs_in": n_in, **got, "balanced": n_in == accounted})
    return pd.DataFrame(rows, columns=["source", "drop", "pairs_in", *ROW_STATES, "balanced"]), problems


def held_out_prompts_in_train(layout: Layout) -> list[str]:
    """Ids of training pairs whose prompt is a prompt of the SFT held-out sets (case and whitespace folded)."""
    from resources.preference.build import sft_held_out
    from resources.preference.split import held_out_prompts

    held = held_out_prompts(sft_held_out(layout))
    train = pd.read_parquet(layout.preferences() / "train.parquet", columns=["id", "prompt"])
    return sorted(i for i, p in zip(train["id"], train["prompt"])
                  if fold(prompt_text(prompt_of({"prompt": p}))) in held)
