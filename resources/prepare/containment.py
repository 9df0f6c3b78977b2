"""N-gram containment: which training rows hold a held-out or benchmark item's own word sequences.

Whole-row Jaccard cannot see a benchmark question pasted into a long conversation: the row's other text
dilutes the score. Containment asks what the GPT-3 and Llama 2 reports ask instead: does the row contain the
item's n-grams, however much else it says? A row contains an item when it shares any ``long_n``-gram (13) with
it, or holds at least ``short_share`` of the item's distinct ``short_n``-grams (8): the only test for items of
8-12 words, which have no 13-gram, and one that also catches long items edited every few words. Words are
compared after normalisation (casefold, punctuation removed, whitespace collapsed), so case and punctuation
edits do not hide a copy; items shorter than ``short_n`` words have no n-gram and are left to exact matching.

Boilerplate is not evidence: an n-gram found in more than ``max_item_share`` items (a benchmark's instruction
repeated in every question) is ignored, and ``ignore_common_in`` also drops n-grams found in many training
rows. The held-out set needs that: it comes from the same sources as the training rows, so system prompts and
task templates are shared by design and only the text specific to an item says it leaked.

Speed: each distinct word is hashed once (pandas' fixed-key SipHash: the same on every machine and run),
n-grams by a polynomial rolling hash over all rows at once in numpy, and rows meet items by binary search in
a sorted hash table. Nothing loops over (row, item) pairs, so 100k rows against 14k items takes seconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

_PUNCT = re.compile(r"[^\w\s]+")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd, so the rolling hash keeps every bit of the word hashes
_CHUNK = 20_000                          # rows hashed at once: bounds memory at a few hundred MB


@dataclass(frozen=True)
class ContainmentSettings:
    long_n: int = 13   # 0: no any-long-n-gram rule, only the short n-gram share
    short_n: int = 8
    short_share: float = 0.5
    max_item_share: int = 10


@dataclass(frozen=True)
class Match:
    row: int
    item: int
    long_gram: bool    # shares a long_n-gram with the item
    coverage: float    # share of the item's (non-boilerplate) short_n-grams found in the row

    def how(self, long_n: int, short_n: int) -> str:
        return f"{long_n}-gram" if self.long_gram else f"{self.coverage:.0%} of {short_n}-grams"


def normalise_words(text: str) -> list[str]:
    return _PUNCT.sub("", str(text).casefold()).replace("_", "").split()


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(hash of every word, index of the text it belongs to), all texts concatenated."""
    words = [normalise_words(t) for t in texts]
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    flat = np.fromiter(chain.from_iterable(words), dtype=object, count=int(lengths.sum()))
    if not len(flat):
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    codes, uniques = pd.factorize(flat)
    hashes = pd.util.hash_array(np.asarray(uniques, dtype=object), categorize=False)[codes]
    return hashes, np.repeat(np.arange(len(texts), dtype=np.int64), lengths)


class Rows:
    """Training rows hashed once (per chunk: word hashes and words per row), for several indexes to look in."""

    def __init__(self, texts: Sequence[str]):
        self.n = len(texts)
        self.chunks = []
        for start in range(0, len(texts), _CHUNK):
            hashes, owner = _word_hashes(texts[start:start + _CHUNK])
            self.chunks.append((start, hashes, np.bincount(owner, minlength=min(_CHUNK, len(texts) - start))))

    def __iter__(self):
        for start, hashes, lengths in self.chunks:
            yield start, (hashes, np.repeat(np.arange(len(lengths), dtype=np.int64), lengths))

    def __len__(self) -> int:
        return self.n


def _rows(rows: "Sequence[str] | Rows") -> Rows:
    return rows if isinstance(rows, Rows) else Rows(rows)


def _ngrams(hashes: np.ndarray, owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n-gram hash, owner) for every n-gram that lies inside one text."""
    m = len(hashes) - n + 1
    if m <= 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    grams = hashes[:m].copy()
    for k in range(1, n):
        grams *= _MULT
        grams += hashes[k:k + m]
    inside = owner[:m] == owner[n - 1:]
    return grams[inside], owner[:m][inside]


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, how often each occurs) of a sorted array; np.unique would hash or sort it again."""
    if not len(sorted_values):
        return sorted_values, np.empty(0, np.int64)
    first = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return sorted_values[first], np.diff(np.r_[first, len(sorted_values)])


def _unique_pairs(owner: np.ndarray, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (owner, n-gram) pairs, sorted by n-gram."""
    if not len(grams):
        return owner, grams
    order = np.lexsort((owner, grams))
    owner, grams = owner[order], grams[order]
    keep = np.r_[True, (grams[1:] != grams[:-1]) | (owner[1:] != owner[:-1])]
    return owner[keep], grams[keep]


class _Table:
    """One n-gram length: every (n-gram, item) pair that counts as evidence, sorted by n-gram."""

    def __init__(self, words: tuple[np.ndarray, np.ndarray], n_items: int, n: int, max_item_share: int):
        self.n, self.n_items = n, n_items
        grams, owner = _ngrams(*words, n)
        items_of, grams = _unique_pairs(owner, grams)
        _, share = _runs(grams)
        self.boilerplate = int((share > max_item_share).sum())
        keep = np.repeat(share <= max_item_share, share)
        self.grams, self.items = grams[keep], items_of[keep]
        self._recount()

    @classmethod
    def empty(cls, n_items: int) -> "_Table":
        return cls((np.empty(0, np.uint64), np.empty(0, np.int64)), n_items, 1, 0)

    def _recount(self) -> None:
        self.per_item = np.bincount(self.items, minlength=self.n_items)
        self.distinct = _runs(self.grams)[0]
        # a bitmap on the low hash bits answers most lookups with one memory access; binary search over a table
        # of a million n-grams costs twenty cache misses per row n-gram, and nearly all of them are misses
        size = 1 << int(min(27, max(10, np.ceil(np.log2(max(len(self.distinct), 1) * 16)))))
        self.mask = np.uint64(size - 1)
        self.bits = np.zeros(size, bool)
        self.bits[(self.distinct & self.mask).astype(np.int64)] = True

    def drop(self, grams: np.ndarray) -> None:
        keep = ~np.isin(self.grams, grams)
        self.grams, self.items = self.grams[keep], self.items[keep]
        self._recount()

    def hits(self, words: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(row, n-gram) of every occurrence in the rows of an n-gram in the table."""
        grams, owner = _ngrams(*words, self.n)
        if not len(self.distinct) or not len(grams):
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        maybe = self.bits[(grams & self.mask).astype(np.int64)]
        grams, owner = grams[maybe], owner[maybe]
        pos = np.minimum(np.searchsorted(self.distinct, grams), len(self.distinct) - 1)
        hit = self.distinct[pos] == grams
        return owner[hit], grams[hit]

    def row_items(self, rows: np.ndarray, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (row, item) pair behind the distinct (row, n-gram) hits, once per shared n-gram."""
        lo = np.searchsorted(self.grams, grams, "left")
        counts = np.searchsorted(self.grams, grams, "right") - lo
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        return np.repeat(rows, counts), self.items[np.arange(int(counts.sum())) + starts]


class ContainmentIndex:
    """The items of one reference set (held-out examples or benchmark questions), ready to be looked for."""

    def __init__(self, items: Sequence[str], settings: ContainmentSettings = ContainmentSettings()):
        self.settings, self.n_items = settings, len(items)
        words = _word_hashes(items)
        self._long = (_Table(words, len(items), settings.long_n, settings.max_item_share) if settings.long_n > 0
                      else _Table.empty(len(items)))
        self._short = _Table(words, len(items), settings.short_n, settings.max_item_share)

    def _hits(self, rows: Sequence[str] | Rows) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per table, the distinct (row, n-gram) pairs of ``rows`` that the table holds."""
        tables = (self._long, self._short)
        found: list[list] = [[] for _ in tables]
        for start, words in _rows(rows):
            for acc, table in zip(found, tables):
                owner, grams = table.hits(words)
                acc.append((owner + start, grams))
        out = []
        for acc in found:
            if not acc:
                out.append((np.empty(0, np.int64), np.empty(0, np.uint64)))
                continue
            out.append(_unique_pairs(np.concatenate([o for o, _ in acc]), np.concatenate([g for _, g in acc])))
        return out

    def ignore_common_in(self, rows: Sequence[str] | Rows, max_rows: int) -> int:
        """Stop counting n-grams that more than ``max_rows`` of ``rows`` share (templates); how many there were."""
        dropped = 0
        for table, (_, grams) in zip((self._long, self._short), self._hits(rows)):
            distinct, share = _runs(grams)
            common = distinct[share > max_rows]
            table.drop(common)
            dropped += len(common)
        return dropped

    def matches(self, rows: Sequence[str] | Rows) -> list[Match]:
        """Every (row, item) pair where the row contains the item, sorted by row then item. Pass ``Rows`` to
        look for several reference sets in the same rows without normalising and hashing them again."""
        rows = _rows(rows)
        n, shape = max(self.n_items, 1), (max(len(rows), 1), max(self.n_items, 1))
        long_hits, short_hits = self._hits(rows)
        long_keys = np.unique(np.ravel_multi_index(self._long.row_items(*long_hits), shape))
        short_keys, found = np.unique(np.ravel_multi_index(self._short.row_items(*short_hits), shape),
                                      return_counts=True)
        coverage = found / np.maximum(self._short.per_item[short_keys % n], 1)
        keys = np.union1d(long_keys, short_keys[coverage >= self.settings.short_share])
        cover = dict(zip(short_keys.tolist(), coverage.tolist()))
        is_long = np.isin(keys, long_keys)
        return [Match(row=k // n, item=k % n, long_gram=bool(lg), coverage=round(cover.get(k, 0.0), 4))
                for k, lg in zip(keys.tolist(), is_long.tolist())]

    def stats(self) -> dict[str, int]:
        no_evidence = int(((self._long.per_item == 0) & (self._short.per_item == 0)).sum())
        return {"items": self.n_items, "boilerplate_ngrams": self._long.boilerplate + self._short.boilerplate,
                "items_without_evidence": no_evidence}
