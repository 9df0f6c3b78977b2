"""MinHash signatures for a whole batch of texts at once, bit-for-bit equal to ``datasketch.MinHash``.

``datasketch.MinHash`` hashes every shingle in Python (SHA-1) and builds one small numpy matrix per document;
at 50k documents the per-call overhead is most of the time. Here a batch is hashed in a few array passes:

1. ``tokens.tokenize`` hashes every token (word, or character of a short text) straight from the bytes;
2. the hash of every k-shingle is a polynomial over its k token hashes, rolled over the whole token stream in
   k vectorised passes and avalanched (MurmurHash3 64-bit finaliser). ``ShingleHash`` is the same function
   applied to one shingle string, usable as datasketch's ``hashfunc``;
3. the low 32 bits go through datasketch's ``affine32`` permutation step, ``fmix32(h) * a + b mod 2^32``, for
   all ``num_perm`` permutations as one (num_perm x block) broadcast, and ``np.minimum.reduceat`` takes each
   document's minimum.

Scheme: datasketch 2.0 added ``scheme=`` (``"affine32"``, its new default, ``"affine64"``, ``"legacy"``). We
pin ``"affine32"`` explicitly: its permutation is a bijection on 32-bit values (no collisions added, unlike
``legacy``'s fold from a 61-bit prime), it needs no 64-bit modulo (several times faster in numpy), and values
fit uint32, half the memory of a stored index. ``affine64`` only pays off for sets of ~1e8 shingles; ours hold
hundreds. ``SCHEME`` is recorded in every saved index, so a future change is detected rather than mixed.

The full 64-bit shingle hashes are kept next to the signatures: exact-Jaccard verification compares them (a
64-bit collision inside one pair of texts is ~1e-14 likely).

numpy ufuncs and pyarrow kernels release the GIL, so chunks of a large batch run on every core in threads,
without copying texts or results between processes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from resources.dedup.shingles import Shingling, shingle_token_split
from resources.dedup.tokens import M64, fmix, fmix64, fmix64_int, token_hash64, tokenize

SCHEME = "affine32"

_POLY = 0x9E3779B97F4A7C15  # odd 64-bit multiplier of the k-gram polynomial (golden-ratio constant)
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)  # datasketch's 32-bit pre-mix of the input hash
_EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's initial (empty-set) hash value for affine32
_BLOCK = 8192  # shingles per permutation block: (num_perm x block) uint32 stays near cache size
_CHUNK_DOCS = 4096  # documents per thread task


# --- one shingle, in plain Python: the reference the vectorised code must equal -------------------------------

def gram_hash64(tokens: Sequence[str]) -> int:
    h = 0
    for t in tokens:
        h = (h * _POLY + token_hash64(t)) & M64
    return fmix64_int(h)


class ShingleHash:
    """datasketch ``hashfunc`` for shingles made by ``shingles.shingles``: the low 32 bits of the 64-bit
    shingle hash, exactly what ``MinHasher`` feeds into the permutations.

    ``MinHash(num_perm, seed, hashfunc=ShingleHash(size), scheme="affine32")`` updated with the same shingle
    strings has the same ``hashvalues`` as the matching row of ``MinHasher.hash(...).signatures``.
    """

    def __init__(self, size: int = 3):
        self.size = size

    def __call__(self, shingle: str | bytes) -> int:
        if isinstance(shingle, bytes):
            shingle = shingle.decode("utf-8")
        return gram_hash64(shingle_token_split(shingle, self.size)) & 0xFFFFFFFF


@lru_cache(maxsize=32)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) uint32 permutation parameters, taken from datasketch itself so they can never drift."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    return fmix(h, _FMIX32, np.uint32)


@dataclass
class HashedBatch:
    """Everything deduplication needs to know about a batch of texts, row i = text i.

    ``hashes[offsets[i]:offsets[i+1]]`` are text i's 64-bit shingle hashes (in text order, repeats kept);
    ``signatures[i]`` its MinHash (uint32, ``num_perm`` values); ``digests[i]`` identifies its normalised text
    (equal digests = exact duplicates).
    """

    hashes: np.ndarray
    offsets: np.ndarray
    signatures: np.ndarray
    digests: list[str]

    def __len__(self) -> int:
        return len(self.digests)

    def shingle_set(self, i: int) -> np.ndarray:
        """Sorted distinct shingle hashes of text i (the set exact Jaccard is computed on)."""
        return np.unique(self.hashes[self.offsets[i]:self.offsets[i + 1]])

    @staticmethod
    def concat(parts: list["HashedBatch"], num_perm: int) -> "HashedBatch":
        if not parts:
            return HashedBatch(np.empty(0, np.uint64), np.zeros(1, np.int64),
                               np.empty((0, num_perm), np.uint32), [])
        if len(parts) == 1:
            return parts[0]
        sizes = np.array([p.offsets[-1] for p in parts], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts)]).astype(np.int64)
        return HashedBatch(
            hashes=np.concatenate([p.hashes for p in parts]),
            offsets=offsets,
            signatures=np.concatenate([p.signatures for p in parts]),
            digests=[d for p in parts for d in p.digests],
        )


class MinHasher:
    """Shingle, hash and MinHash many texts at once; ``hash(texts)`` returns a ``HashedBatch``."""

    def __init__(self, num_perm: int = 128, seed: int = 1, shingling: Shingling = Shingling(),
                 workers: int | None = None):
        self.num_perm = num_perm
        self.seed = seed
        self.shingling = shingling
        self.workers = workers or os.cpu_count() or 1

    def hash(self, texts: Sequence[str]) -> HashedBatch:
        texts = list(texts)
        chunks = [texts[i:i + _CHUNK_DOCS] for i in range(0, len(texts), _CHUNK_DOCS)]
        if self.workers <= 1 or len(chunks) <= 1:
            parts = [self._hash_chunk(c) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                parts = list(pool.map(self._hash_chunk, chunks))
        return HashedBatch.concat(parts, self.num_perm)

    def _hash_chunk(self, texts: list[str]) -> HashedBatch:
        stream = tokenize(texts, self.shingling)
        hashes, offsets = self._shingle_hashes(stream.hashes, stream.offsets)
        return HashedBatch(hashes, offsets, self._signatures(hashes, offsets), stream.digests)

    def _shingle_hashes(self, tokens: np.ndarray, token_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """64-bit hash of every k-gram of tokens inside one text; a text of 1..k-1 tokens is one shingle."""
        k = self.shingling.size
        lengths = np.diff(token_offsets)
        total = len(tokens)
        counts = np.where(lengths >= k, lengths - k + 1, np.minimum(lengths, 1))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        grams = np.empty(int(offsets[-1]), np.uint64)
        from_stream = np.repeat(lengths >= k, counts)
        if total >= k:
            g = np.zeros(total - k + 1, np.uint64)
            poly = np.uint64(_POLY)
            for j in range(k):
                g *= poly
                g += tokens[j:j + len(g)]
            # keep the k-grams that start at position <= length - k of their own text
            keep = np.ones(total, bool)
            ends = token_offsets[1:]
            long_docs = np.flatnonzero(lengths >= k)
            tail = np.repeat(ends[long_docs] - k + 1, k - 1) + np.tile(np.arange(k - 1), len(long_docs))
            keep[tail] = False
            keep[np.repeat(lengths < k, lengths)] = False
            grams[from_stream] = g[keep[:len(g)]]
        short = np.flatnonzero((lengths > 0) & (lengths < k))
        if len(short):
            values = []
            for i in short.tolist():
                h = 0
                for t in tokens[token_offsets[i]:token_offsets[i + 1]].tolist():
                    h = (h * _POLY + t) & M64
                values.append(h)
            grams[~from_stream] = np.array(values, dtype=np.uint64)
        return fmix64(grams), offsets

    def _signatures(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        a, b = permutations(self.num_perm, self.seed)
        sig = np.full((len(offsets) - 1, self.num_perm), _EMPTY, dtype=np.uint32)
        docs = np.flatnonzero(np.diff(offsets) > 0)  # empty texts keep datasketch's empty-set value
        if not len(docs):
            return sig
        x = _fmix32((hashes & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        doc_starts = offsets[docs]
        a_col, b_col = a[:, None], b[:, None]
        buf = np.empty((self.num_perm, min(_BLOCK, len(x))), np.uint32)
        # Fixed blocks of shingles; a text crossing a block edge gets the minimum of its parts.
        for lo in range(0, len(x), _BLOCK):
            hi = min(lo + _BLOCK, len(x))
            first = int(np.searchsorted(doc_starts, lo, side="right")) - 1
            last = int(np.searchsorted(doc_starts, hi, side="left"))
            block = buf[:, :hi - lo]
            np.multiply(a_col, x[lo:hi], out=block)  # uint32 arithmetic wraps: the "mod 2^32" of affine32
            block += b_col
            seg = np.maximum(doc_starts[first:last], lo) - lo
            rows = docs[first:last]
            sig[rows] = np.minimum(sig[rows], np.minimum.reduceat(block, seg, axis=1).T)
        return sig
