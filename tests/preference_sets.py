"""Small preference sets in the shape of ``Layout.preferences()``: id, source, task, prompt (JSON chat ending with a
user turn), chosen, rejected, origin_ids."""

from __future__ import annotations

import json
import random
from pathlib import Path

PREFERENCE_COLUMNS = ["id", "source", "task", "prompt", "chosen", "rejected", "origin_ids"]


def pair_rows(n: int, seed: int = 5, offset: int = 0) -> list[dict]:
    """Questions like the SFT set's (tests/test_training_loop.py); chosen is right, rejected is the model's slip."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        if i % 2:
            prompt = [{"role": "user", "content": f"What is {a} plus {b}?"}]
            chosen, rejected = f"The total is {a + b}.", "I am not sure, please ask someone else."
        else:
            prompt = [{"role": "user", "content": f"Where is order A-{1000 + a}?"}]
            chosen, rejected = f"Order A-{1000 + a} was shipped {b % 9 + 1} days ago.", "I do not know."
        rid = f"corrected_outputs/d1/{offset + i + 1}"
        rows.append({"id": rid, "source": "corrected_outputs", "task": "qa", "prompt": json.dumps(prompt),
                     "chosen": chosen, "rejected": rejected, "origin_ids": json.dumps([rid])})
    return rows


def write_pairs(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    from resources.storage import write_parquet

    return write_parquet(path, pd.DataFrame(rows, columns=PREFERENCE_COLUMNS))
