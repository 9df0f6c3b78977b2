"""Vectorised MinHash signatures must equal datasketch's own MinHash, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

import resources.dedup.minhash as minhash_module
from resources.dedup.bands import candidate_pairs, cross_candidate_pairs, lsh_params
from resources.dedup.minhash import SCHEME, MinHasher, ShingleHash
from resources.dedup.shingles import Shingling, normalise, shingles

WORDS = ("order refund parcel invoice delivery customer address account password reset shipping label "
         "warehouse return policy weekend support ticket priority escalation agent").split()


def _doc(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, n))


def _reference(text: str, num_perm: int, seed: int, shingling: Shingling) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=ShingleHash(shingling.size), scheme=SCHEME)
    m.update_batch(list(shingles(text, shingling)))
    return m.hashvalues


TEXTS = [
    "",
    "   \t\n ",
    "a",
    "Hi!",
    "Where is my parcel?",
    "Where   is my\nPARCEL?",
    "Ünïcödé straße İstanbul 日本語 😀 " * 20,
    "tab\tseparated\u00a0non-breaking\u2003em-space\u3000ideographic " * 15,
    " ".join(f"token{i}" for i in range(200)),
    "averyveryverylongtokenthatspansmanyeightbytepieces " * 60,
]


@pytest.mark.parametrize("shingling", [Shingling(), Shingling(size=3, min_words=10), Shingling(unit="char", size=4),
                                       Shingling(size=1, min_words=1)])
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7)])
def test_signatures_equal_datasketch(shingling, num_perm, seed):
    rng = np.random.default_rng(0)
    texts = TEXTS + [_doc(rng, int(n)) for n in rng.integers(5, 300, 20)]
    batch = MinHasher(num_perm, seed, shingling, workers=1).hash(texts)
    assert batch.signatures.dtype == np.uint32 and batch.signatures.shape == (len(texts), num_perm)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(batch.signatures[i], _reference(text, num_perm, seed, shingling), err_msg=repr(text))
        assert len(batch.shingle_set(i)) == len(shingles(text, shingling))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(list("abcAB .,?'$_\t\n\r\x0b\x1c\xa0\u2003\u200bßİ日😀“’ﬁ！１한") + ["Σ", "é", "e\u0301"]),
                max_size=150).map("".join))
def test_any_text_matches_datasketch(text):
    shingling = Shingling(size=3, min_words=4)
    batch = MinHasher(32, 3, shingling, workers=1).hash(["padding text", text])
    np.testing.assert_array_equal(batch.signatures[1], _reference(text, 32, 3, shingling))


def test_normalisation_makes_case_and_spacing_exact_duplicates():
    a, b, c = "Where is my parcel? It was due Monday.", "  where IS my\tparcel?\n\nit was due monday. ", "Where is my parcel"
    assert normalise(b) == "where is my parcel it was due monday"
    batch = MinHasher(64, 1, workers=1).hash([a, b, c])
    assert batch.digests[0] == batch.digests[1] != batch.digests[2]
    np.testing.assert_array_equal(batch.signatures[0], batch.signatures[1])


def test_chunks_in_threads_and_small_blocks_give_the_same_batch(monkeypatch):
    rng = np.random.default_rng(1)
    texts = [_doc(rng, int(n)) for n in rng.integers(0, 120, 40)] + TEXTS
    single = MinHasher(64, 1, workers=1).hash(texts)
    monkeypatch.setattr(minhash_module, "_CHUNK_DOCS", 7)
    monkeypatch.setattr(minhash_module, "_BLOCK", 13)  # texts straddle permutation blocks
    threaded = MinHasher(64, 1, workers=3).hash(texts)
    np.testing.assert_array_equal(single.signatures, threaded.signatures)
    np.testing.assert_array_equal(single.hashes, threaded.hashes)
    np.testing.assert_array_equal(single.offsets, threaded.offsets)
    assert single.digests == threaded.digests


def test_rows_work_in_a_real_minhash_lsh_and_bands_match_it():
    rng = np.random.default_rng(2)
    base = [_doc(rng, 120) for _ in range(30)]
    edited = []
    for text in base[:10]:  # near duplicates: two words replaced
        words = text.split()
        words[30], words[90] = "zebra", "quokka"
        edited.append(" ".join(words))
    texts = base + edited
    batch = MinHasher(128, 1, workers=1).hash(texts)
    b, r = lsh_params(0.8, 128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128, params=(b, r))
    rows = [LeanMinHash(seed=1, hashvalues=sig, scheme=SCHEME) for sig in batch.signatures]
    for i, m in enumerate(rows):
        lsh.insert(i, m)
    lsh_pairs = {(min(i, j), max(i, j)) for i, m in enumerate(rows) for j in lsh.query(m) if i != j}
    ours = {tuple(p) for p in candidate_pairs(batch.signatures, b, r).tolist()}
    assert ours == lsh_pairs
    assert {(i, 30 + i) for i in range(10)} <= ours
    cross = {tuple(p) for p in cross_candidate_pairs(batch.signatures[30:], batch.signatures[:30], b, r).tolist()}
    assert {(i, i) for i in range(10)} <= cross
    assert cross == {(j - 30, i) for i, j in lsh_pairs if i < 30 <= j}


def test_recall_weighted_bands():
    b, r = lsh_params(0.8, 128, 0.95)
    assert b * r <= 128
    assert 1 - (1 - 0.8 ** r) ** b > 0.9  # a pair right at the threshold is a candidate > 90 % of the time
    assert lsh_params(0.8, 128, 0.5) == (9, 13)  # datasketch's default weighting, for reference
