"""The exact side of benchmarks/dedup.py, in plain Python: normalisation, shingles, Jaccard, true pairs.

``plain_normalise`` is the definition of ``resources/dedup/normalise.py`` written with ``unicodedata``, so the
baseline and the ground truth see the same shingles as the project without using its code.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from itertools import combinations

K = 3  # DedupSettings' default shingle size

_ASCII_PUNCT = str.maketrans({chr(c): " " for c in range(128) if unicodedata.category(chr(c)).startswith("P")})


def plain_normalise(text: str) -> str:
    if not text.isascii():
        from resources.dedup.normalise import FOLDS

        text = "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) != "Mn").casefold()
        text = "".join(" " if unicodedata.category(c).startswith("P") else FOLDS.get(c, c) for c in text)
        return unicodedata.normalize("NFC", text)
    return text.lower().translate(_ASCII_PUNCT)


def plain_shingles(text: str, normalised: bool = False) -> set[str]:
    words = (text if normalised else plain_normalise(text)).split()
    return {" ".join(words[i:i + K]) for i in range(len(words) - K + 1)}


def jaccard(a: set, b: set) -> float:
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if (a or b) else 0.0


def ground_truth(sets: list[set[str]], universe: list[int], clusters: list[list[int]], t: float) -> set[tuple]:
    # Prefix filter (exact): with shingles ordered rarest first, two sets of Jaccard >= t share one of the first
    # |s| - ceil(t*|s|) + 1 shingles of each, so only those are posted (3-grams like "of the" are everywhere).
    df: dict[str, int] = defaultdict(int)
    for d in universe:
        for s in sets[d]:
            df[s] += 1
    postings: dict[str, list[int]] = defaultdict(list)
    for d in universe:
        ranked = sorted(sets[d], key=lambda s: (df[s], s))
        for s in ranked[:len(ranked) - math.ceil(t * len(ranked)) + 1]:
            postings[s].append(d)
    candidates: set[tuple[int, int]] = set()
    for docs in postings.values():
        if len(docs) > 1:
            candidates.update(combinations(sorted(docs), 2))
    for c in clusters:
        candidates.update(combinations(sorted(c), 2))
    return {p for p in candidates if jaccard(sets[p[0]], sets[p[1]]) >= t}
