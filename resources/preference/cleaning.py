"""Clean raw preference pairs as SFT examples are cleaned, then keep only usable pairs.

Every prompt message, the chosen and the rejected answer go through the same normalisation and PII scrubbing
as SFT text (``resources/prepare/cleaning.py``): a rejected answer is trained on too (pushed down, but read),
so an address in it is as much a leak as one in the chosen answer. Validity is decided after cleaning, so an
answer that was only markup is empty, and two answers that differ only in whitespace are equal.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from resources.prepare.cleaning import _settings, clean_message, clean_text, scrub_conversation
from resources.prepare.normalise import CHANGE_KEYS
from resources.prepare.pii import PII_KEYS
from resources.preference.schema import pair_problem, prompt_problem
from resources.schema import KEPT, LEDGER_COLUMNS, REJECTED, ledger_entry

STAGE = "preference_clean"


def entry(pair: dict[str, Any], state: str, stage: str, **kw: Any) -> dict[str, Any]:
    return ledger_entry(id=pair["id"], source=pair["source"], drop=pair.get("drop", ""), file=pair.get("file", ""),
                        line=int(pair.get("line", 0) or 0), state=state, stage=stage, **kw)


def clean_pairs(raw: list[dict[str, Any]], cfg: Any = None) -> tuple[list[dict[str, Any]], pd.DataFrame, dict]:
    """(usable cleaned pairs, a ledger row for every raw pair, stats). A raw pair that already carries a
    ``state`` (decided by its reader) keeps it."""
    norm, pii = _settings(cfg, None)
    changes, found, reasons = Counter(), Counter(), Counter()
    kept, ledger = [], []
    for pair in raw:
        if pair.get("state"):
            ledger.append(entry(pair, pair["state"], STAGE, reason=pair["reason"]))
            reasons[pair["reason"].split(":")[0]] += 1
            continue
        why = prompt_problem(pair["prompt"])  # structure first: cleaning reads every message's content
        if not why:
            prompt = [clean_message(m, norm, changes) for m in pair["prompt"]]
            chosen, rejected = (clean_text(pair[k], norm, changes) if isinstance(pair[k], str)
                                else pair[k] for k in ("chosen", "rejected"))
            if pii:  # one conversation: the prompt and both answers share their placeholders
                (prompt, chosen, rejected), conv = scrub_conversation([prompt, chosen, rejected])
                found.update(conv.counts)
            why = pair_problem(prompt, chosen, rejected)
        if why:
            ledger.append(entry(pair, REJECTED, STAGE, reason=why))
            reasons[why.split(":")[0]] += 1
            continue
        kept.append({**pair, "prompt": prompt, "chosen": chosen, "rejected": rejected})
        ledger.append(entry(pair, KEPT, STAGE))
    stats = {"pairs_in": len(raw), "pairs_out": len(kept), "not_usable": dict(sorted(reasons.items())),
             "normalise": {k: int(changes.get(k, 0)) for k in CHANGE_KEYS},
             "pii": {k: int(found.get(k, 0)) for k in PII_KEYS}}
    return kept, pd.DataFrame(ledger, columns=list(LEDGER_COLUMNS)), stats
