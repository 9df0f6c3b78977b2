"""A near-duplicate corpus made from real text: MMLU and GSM8K items, and copies of some with one light edit.

Base documents are texts nobody on this project wrote: every MMLU test question with its four choices (as an
evaluation prompt shows them; short, so shingled by characters) and every GSM8K test question with its worked
answer (long enough for word shingles). Bases are made distinct first (``distinct``): MMLU repeats a few
questions, and sets several on one shared passage; such bases would be near duplicates of each other, and a
match between them would count against precision although it is right.

A third of the bases get 1-2 copies; each copy gets one edit of a kind drawn uniformly from ``KINDS``:

- typo: 1-2 typos (adjacent letters swapped, a letter dropped, doubled or replaced) in random words;
- case: the whole text upper- or lower-cased, or title-cased, or ~30 % of its words upper-cased;
- whitespace: spaces doubled, turned into newlines or tabs, trailing spaces, at random gaps;
- punctuation: commas removed, ``? ! . :`` spaced out, quotes made typographic, a final full stop dropped;
- unicode: the text in NFKD form, no-break spaces, full-width digits, the ``fi`` ligature;
- diacritics: accents stripped where the text has them, else added to the vowels of a few words;
- word_swap: one word replaced by another word of the corpus;
- clause_cut: one clause (text between punctuation marks) of at most 15 % of the words cut out;
- mixed: one of typo/word_swap/clause_cut plus one of case/whitespace/punctuation/unicode/diacritics.

Copies are of the base, not of each other, so every member of a family should end in one cluster.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
FORMAT_KINDS = ("case", "whitespace", "punctuation", "unicode", "diacritics")
CONTENT_KINDS = ("typo", "word_swap", "clause_cut")
KINDS = CONTENT_KINDS + FORMAT_KINDS + ("mixed",)
_ACCENT = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "c": "ç", "n": "ñ"}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def base_documents(root: Path = SHARED) -> list[str]:
    docs = []
    for path in sorted((root / "mmlu").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                choices = "\n".join(f"{letter}. {r[f'choice{k}']}" for k, letter in enumerate("ABCD"))
                docs.append(f"{r['question']}\n{choices}")
    with open(root / "gsm8k_test.jsonl", encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            docs.append(f"{item['question']}\n{item['answer']}")
    return list(dict.fromkeys(docs))


def distinct(docs: list[str], limit: float = 0.5) -> list[str]:
    """``docs`` less every document sharing at least ``limit`` (Jaccard) of its lower-cased word 3-grams with
    another one: plain Python, nothing the engine under test computes."""
    from collections import defaultdict
    from itertools import combinations

    grams = []
    for d in docs:
        w = re.findall(r"\w+", d.lower())
        grams.append({" ".join(w[i:i + 3]) for i in range(max(1, len(w) - 2))})
    postings = defaultdict(list)
    for i, g in enumerate(grams):
        for x in g:
            postings[x].append(i)
    # a pair this similar shares many 3-grams, so rare 3-grams (at most 50 documents) find it
    candidates = {p for docs_ in postings.values() if len(docs_) <= 50 for p in combinations(docs_, 2)}
    close = {i for a, b in candidates for i in (a, b)
             if len(grams[a] & grams[b]) >= limit * len(grams[a] | grams[b])}
    return [d for i, d in enumerate(docs) if i not in close]


def _typo(text: str, rng: np.random.Generator) -> str:
    for _ in range(int(rng.integers(1, 3))):
        words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
        if not words:
            return text
        m = words[int(rng.integers(len(words)))]
        w, i = m.group(), int(rng.integers(1, len(m.group()) - 1))
        op = int(rng.integers(4))
        new = (w[:i] + w[i + 1] + w[i] + w[i + 2:] if op == 0 else w[:i] + w[i + 1:] if op == 1
               else w[:i] + w[i] + w[i:] if op == 2 else w[:i] + _LETTERS[int(rng.integers(26))] + w[i + 1:])
        text = text[:m.start()] + new + text[m.end():]
    return text


def _case(text: str, rng: np.random.Generator) -> str:
    mode = int(rng.integers(4))
    if mode == 0:
        return text.upper()
    if mode == 1:
        return text.lower()
    if mode == 2:
        return text.title()
    return re.sub(r"\S+", lambda m: m.group().upper() if rng.random() < 0.3 else m.group(), text)


def _whitespace(text: str, rng: np.random.Generator) -> str:
    gaps = ["  ", "\n", "\t", " \n ", "   "]
    text = re.sub(r" ", lambda m: gaps[int(rng.integers(len(gaps)))] if rng.random() < 0.3 else " ", text)
    return text + "  " if rng.random() < 0.5 else text


def _punctuation(text: str, rng: np.random.Generator) -> str:
    text = text.replace(",", "")
    text = re.sub(r"([?!.:])(\s|$)", r" \1\2", text)
    text = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", text).replace("'", "\u2019")
    return text[:-1] if text.endswith(".") and rng.random() < 0.5 else text


def _unicode(text: str, rng: np.random.Generator) -> str:
    text = unicodedata.normalize("NFKD", text).replace("fi", "\ufb01")
    text = re.sub(r" ", lambda m: "\u00a0" if rng.random() < 0.3 else " ", text)
    return re.sub(r"[0-9]", lambda m: chr(0xFF10 + int(m.group())), text)


def _diacritics(text: str, rng: np.random.Generator) -> str:
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if unicodedata.normalize("NFC", stripped) != text:
        return unicodedata.normalize("NFC", stripped)
    words = list(re.finditer(r"[a-z]{3,}", text))
    for m in sorted((words[int(k)] for k in rng.choice(len(words), min(3, len(words)), replace=False)),
                    key=lambda m: -m.start()):
        text = text[:m.start()] + "".join(_ACCENT.get(c, c) for c in m.group()) + text[m.end():]
    return text


def _word_swap(text: str, rng: np.random.Generator, vocabulary: list[str]) -> str:
    words = list(re.finditer(r"[A-Za-z]+", text))
    if not words:
        return text
    m = words[int(rng.integers(len(words)))]
    new = m.group()
    while new.lower() == m.group().lower():
        new = vocabulary[int(rng.integers(len(vocabulary)))]
    return text[:m.start()] + new + text[m.end():]


def _clause_cut(text: str, rng: np.random.Generator) -> str:
    limit = max(2, int(0.15 * len(text.split())))
    clauses = [m for m in re.finditer(r"[^,;:.?!\n]+[,;:.?!\n]?", text) if 1 <= len(m.group().split()) <= limit]
    if not clauses:
        return text
    m = clauses[int(rng.integers(len(clauses)))]
    return (text[:m.start()] + text[m.end():]).strip()


def edit(text: str, kind: str, rng: np.random.Generator, vocabulary: list[str]) -> str:
    if kind == "mixed":
        content = CONTENT_KINDS[int(rng.integers(len(CONTENT_KINDS)))]
        return edit(edit(text, content, rng, vocabulary), FORMAT_KINDS[int(rng.integers(len(FORMAT_KINDS)))],
                    rng, vocabulary)
    if kind == "word_swap":
        return _word_swap(text, rng, vocabulary)
    return {"typo": _typo, "case": _case, "whitespace": _whitespace, "punctuation": _punctuation,
            "unicode": _unicode, "diacritics": _diacritics, "clause_cut": _clause_cut}[kind](text, rng)


def make_corpus(seed: int, copied_share: float = 1 / 3) -> tuple[list[str], list[int], list[str]]:
    """(texts, family of each text, edit kind of each text: "" for bases), bases first in random order."""
    rng = np.random.default_rng(seed)
    bases = distinct(base_documents())
    bases = [bases[i] for i in rng.permutation(len(bases)).tolist()]
    vocabulary = sorted({w for b in bases for w in re.findall(r"[a-z]{3,}", b)})
    texts, family, kinds = list(bases), list(range(len(bases))), [""] * len(bases)
    for f in rng.choice(len(bases), int(copied_share * len(bases)), replace=False).tolist():
        for _ in range(int(rng.integers(1, 3))):
            kind = KINDS[int(rng.integers(len(KINDS)))]
            copy = edit(bases[f], kind, rng, vocabulary)
            if copy != bases[f]:
                texts.append(copy)
                family.append(f)
                kinds.append(kind)
    return texts, family, kinds


def score(dedup, seed: int) -> dict:
    """Run ``dedup`` (a DedupEngine or the Deduplicator resource) on the corpus; recall and precision, overall and per edit kind.

    recall: share of edited copies that end in their base's cluster (``deduplicate``, so a copy found only
    through another copy of its base counts); precision: share of rows dropped as duplicates whose survivor is
    of their own family. pair_recall / pair_precision: the same on the verified pairs of ``self_pairs``
    (pairs of a base and its copy; all pairs found).
    """
    import time

    import pandas as pd

    texts, family, kinds = make_corpus(seed)
    n = len(texts)
    frame = pd.DataFrame({"id": [f"{i:06d}" for i in range(n)], "text": texts, "source": "s", "created_at": ""})
    t0 = time.perf_counter()
    result = dedup.deduplicate(frame)
    seconds = time.perf_counter() - t0
    root = [i if d is None else int(d) for i, d in enumerate(result["duplicate_of"].tolist())]
    copies = [i for i in range(n) if kinds[i]]
    joined = [root[i] == root[family[i]] for i in copies]
    dropped = [i for i in range(n) if root[i] != i]
    wrong = [i for i in dropped if family[root[i]] != family[i]]
    pairs = {(i, j) for i, j, _ in dedup.self_pairs(texts)}
    base_pairs = {(family[i], i) for i in copies}
    false_pairs = sorted((i, j) for i, j in pairs if family[i] != family[j])
    per_kind = {k: round(float(np.mean([j for i, j in zip(copies, joined) if kinds[i] == k])), 4) for k in KINDS}
    return {"docs": n, "edited_copies": len(copies), "seconds": round(seconds, 2),
            "recall": round(float(np.mean(joined)), 4),
            "precision": round(1 - len(wrong) / len(dropped), 4) if dropped else 1.0,
            "pair_recall": round(len(base_pairs & pairs) / len(base_pairs), 4),
            "pair_precision": round(1 - len(false_pairs) / len(pairs), 4) if pairs else 1.0,
            "recall_by_kind": per_kind, "false_pairs": len(false_pairs),
            "false_pair_examples": [[texts[i][:70], texts[j][:70]] for i, j in false_pairs[:3]]}
