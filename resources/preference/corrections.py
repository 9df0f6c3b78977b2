"""Preference pairs from corrections: the expert's correction is chosen, the model output it replaced rejected.

Every row a ``corrected_outputs`` drop read is an input pair. A row the source rules did not keep (malformed,
erased) keeps its source ledger row and fate; a kept row becomes a raw pair from its example (prompt and
correction) and the drop's ``model_outputs.parquet`` (``resources/sources/model_outputs.py``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from resources.datasets.tables import read_table
from resources.layout import Layout
from resources.schema import EXAMPLE_COLUMNS, KEPT, LEDGER_COLUMNS, messages_of, prompt_messages
from resources.sources.model_outputs import MODEL_OUTPUTS, SOURCE, read_model_outputs

NOT_STORED = (f"no model output: the drop was ingested before {MODEL_OUTPUTS} was kept; re-ingest it "
              f"(materialise its {SOURCE} partition again) to get this pair")


def correction_pairs(layout: Layout) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """(raw pairs of every kept correction, the source ledger of every row the drops read)."""
    pairs: list[dict[str, Any]] = []
    ledgers = []
    for drop_dir in layout.source_drops(SOURCE):
        examples = read_table(drop_dir, "examples.parquet", EXAMPLE_COLUMNS)
        ledger = read_table(drop_dir, "ledger.parquet", LEDGER_COLUMNS)
        ledgers.append(ledger)
        stored = (drop_dir / MODEL_OUTPUTS).exists()
        outputs = read_model_outputs(drop_dir).set_index("id")
        where = {r["id"]: r for r in ledger[ledger["state"] == KEPT].to_dict("records")}
        for ex in examples.to_dict("records"):
            rid = str(ex["id"])
            answers = [m["content"] for m in messages_of(ex) if m.get("role") == "assistant"]
            rejected, problem = "", NOT_STORED
            if stored and rid in outputs.index:
                rejected, problem = str(outputs.at[rid, "model_output"]), str(outputs.at[rid, "problem"])
            elif stored:
                problem = f"no model output: {MODEL_OUTPUTS} of {drop_dir.name} has no row {rid}"
            pairs.append({"id": rid, "source": SOURCE, "drop": str(ex["drop"]),
                          "file": where.get(rid, {}).get("file", ""), "line": int(where.get(rid, {}).get("line", 0)),
                          "task": str(ex["task"]), "prompt": prompt_messages(ex),
                          "chosen": answers[-1] if answers else "", "rejected": rejected,
                          "state": "rejected" if problem else "", "reason": problem,
                          "origin_ids": [rid]})
    ledger = pd.concat(ledgers, ignore_index=True) if ledgers else pd.DataFrame(columns=list(LEDGER_COLUMNS))
    return pairs, ledger
