"""A second held-out set of examples about products (or any named things) that training never sees.

The ordinary held-out set shares products and templates with training, so on templated data a high score can
mean recall rather than skill. Naming a few products in ``PrepareConfig.unseen_terms`` moves every duplicate
cluster that mentions one of them, in any message or the reference, out of both train and the ordinary
held-out set into ``eval_unseen.parquet``: the model is then scored on products it never read about.

Matching folds both sides to NFC and casefold (so "TROMSØ", a decomposed "ø" and "tromsø" are one word) and
takes the term as a prefix of words: it must start where a word starts but may run on, so "Tromsø desk lamp"
also finds "Tromsø desk lamps" and "Tromsø desk lamp's". A cluster moves as a whole because a near-duplicate
left behind in training would teach the model the very product the set claims is unseen.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

from resources.schema import example_text

UNSEEN_EVAL_FILE = "eval_unseen.parquet"  # beside eval.parquet; the evaluator scores it when it is there


def fold(text: str) -> str:
    # NFC again after casefold: casefolding can leave a combining mark behind (e.g. "İ" -> "i̇")
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def term_matcher(terms: Iterable[str]) -> Callable[[str], list[str]]:
    """text -> the terms it mentions (in the order given)."""
    patterns = []
    for term in terms:
        words = fold(term).split()
        if words:
            # words may be separated by any run of whitespace; the last word may continue (plurals, possessives)
            patterns.append((term, re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)))))

    def match(text: str) -> list[str]:
        folded = fold(text)
        return [term for term, pattern in patterns if pattern.search(folded)]

    return match


def mentioned_terms(example: Mapping, match: Callable[[str], list[str]]) -> list[str]:
    """The terms an example mentions in any message (tool calls included) or its reference."""
    return match(example_text(example) + "\n" + str(example.get("reference") or ""))


def unseen_clusters(members: pd.DataFrame, clusters: Mapping[str, str], terms: Iterable[str]) -> dict[str, list[str]]:
    """cluster id -> terms mentioned by any of its members. ``members`` may hold rows dedup dropped: a survivor
    whose absorbed duplicate names an unseen product goes with it."""
    match = term_matcher(terms)
    found: dict[str, set[str]] = {}
    for rec in members.to_dict("records"):
        hits = mentioned_terms(rec, match)
        if hits:
            found.setdefault(str(clusters.get(rec["id"], rec["id"])), set()).update(hits)
    return {c: sorted(t) for c, t in sorted(found.items())}


def carve_unseen(train: pd.DataFrame, held_out: pd.DataFrame, clusters: Mapping[str, str],
                 unseen: Mapping[str, list[str]], terms: list[str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Move the rows of ``unseen`` clusters out of train and held-out; return (train, held-out, unseen, stats).

    The remaining rows keep their order, so the ordinary held-out set is exactly what it was minus these rows.
    """
    def is_unseen(frame: pd.DataFrame) -> pd.Series:
        return frame["id"].astype(str).map(lambda i: str(clusters.get(i, i)) in unseen).astype(bool)

    from_train, from_eval = is_unseen(train), is_unseen(held_out)
    moved = pd.concat([train[from_train], held_out[from_eval]], ignore_index=True)
    moved = moved.sort_values("id").reset_index(drop=True)
    by_term = Counter(t for i in moved["id"].astype(str) for t in unseen[str(clusters.get(i, i))])
    stats = {"terms": list(terms), "rows": len(moved),
             "clusters": len({str(clusters.get(i, i)) for i in moved["id"].astype(str)}),
             "from_train": int(from_train.sum()), "from_eval": int(from_eval.sum()),
             "by_term": {t: int(by_term.get(t, 0)) for t in terms},
             "by_task": {k: int(v) for k, v in sorted(Counter(moved["task"].astype(str)).items())}}
    return (train[~from_train].reset_index(drop=True), held_out[~from_eval].reset_index(drop=True), moved, stats)


def rows_mentioning(frame: pd.DataFrame, terms: Iterable[str]) -> list[list[str]]:
    """[id, term] for every row of ``frame`` that mentions a term: what must never be found in training."""
    match = term_matcher(terms)
    return [[str(rec["id"]), t] for rec in frame.to_dict("records") for t in mentioned_terms(rec, match)]
