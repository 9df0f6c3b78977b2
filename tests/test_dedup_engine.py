"""Deduplicator: exact and near clusters, the survivor rule, transitivity, incremental runs, decontamination."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from resources.dedup.resource import Deduplicator
from resources.dedup.minhash import MinHasher
from resources.dedup.shingles import shingles

VOCAB = ("the order parcel refund invoice delivery customer address account password reset shipping label "
         "warehouse return policy weekend support ticket priority escalation agent courier tracking number "
         "payment card bank transfer discount voucher code product size colour replacement damaged missing "
         "item box store branch manager phone email chat response hours days week month today tomorrow").split()


def text(seed: int, n: int = 150) -> str:
    return " ".join(np.random.default_rng(seed).choice(VOCAB, n))


def replace_words(t: str, positions: list[int], tag: str) -> str:
    words = t.split()
    for k, p in enumerate(positions):
        words[p] = f"{tag}{k}"
    return " ".join(words)


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "text", "source", "created_at"])


def by_id(result: pd.DataFrame) -> dict[str, tuple]:
    return {r.id: (r.duplicate_of, r.kind) for r in result.itertuples()}


A = text(1)
B = replace_words(A, [20, 60], "edit")        # near A
C = replace_words(B, [90, 100, 110, 130], "later")  # near B, not near A
OTHER = text(2)                                # same vocabulary and topic, different text


def test_premises_of_the_fixtures():
    assert jaccard(A, B) >= 0.8 and jaccard(B, C) >= 0.8 and jaccard(A, C) < 0.8
    assert jaccard(A, OTHER) < 0.1


def test_exact_and_near_clusters_with_survivor_rule():
    items = frame([
        ("t/1", A, "teacher_synthetic", "2024-03-01T00:00:00Z"),
        ("c/1", A.upper().replace(" ", "  "), "corrected_outputs", "2023-01-01T00:00:00Z"),  # exact, best source
        ("t/2", B, "teacher_synthetic", "2024-05-01T00:00:00Z"),                            # near
        ("t/3", OTHER, "teacher_synthetic", "2024-01-01T00:00:00Z"),
        ("t/4", OTHER, "teacher_synthetic", "2024-02-01T00:00:00Z"),                        # exact, newer
        ("t/5", OTHER, "teacher_synthetic", "2024-02-01T00:00:00Z"),                        # same time: smaller id wins
        ("x/1", text(3), "unknown_source", ""),
    ])
    result = Deduplicator().deduplicate(items)
    assert result["id"].tolist() == items["id"].tolist()
    got = by_id(result)
    assert got["c/1"] == (None, None)
    assert got["t/1"] == ("c/1", "exact")
    assert got["t/2"] == ("c/1", "near")
    assert got["t/4"] == (None, None)
    assert got["t/3"] == ("t/4", "exact") and got["t/5"] == ("t/4", "exact")
    assert got["x/1"] == (None, None)
    sim = dict(zip(result["id"], result["similarity"]))
    assert sim["t/1"] == 1.0
    assert sim["t/2"] == pytest.approx(jaccard(A, B))
    assert np.isnan(sim["c/1"])


def test_clusters_are_transitive_and_everyone_points_at_the_survivor():
    items = frame([
        ("a", A, "teacher_synthetic", "2024-01-01"),
        ("b", B, "teacher_synthetic", "2024-01-01"),
        ("c", C, "expert_annotations", "2024-01-01"),
    ])
    got = by_id(Deduplicator().deduplicate(items))
    assert got == {"c": (None, None), "a": ("c", "near"), "b": ("c", "near")}


def test_source_priority_is_configurable():
    items = frame([("a", A, "teacher_synthetic", ""), ("b", A, "corrected_outputs", "")])
    assert by_id(Deduplicator(source_priority=["teacher_synthetic"]).deduplicate(items))["b"] == ("a", "exact")
    assert by_id(Deduplicator().deduplicate(items))["a"] == ("b", "exact")


def test_similar_topic_text_is_kept_and_threshold_matters():
    items = frame([("a", A, "s", ""), ("b", B, "s", ""), ("o", OTHER, "s", "")])
    assert by_id(Deduplicator().deduplicate(items))["o"] == (None, None)
    strict = by_id(Deduplicator(threshold=0.95).deduplicate(items))
    assert strict == {"a": (None, None), "b": (None, None), "o": (None, None)}


def test_short_texts_use_character_shingles():
    # 25 words: one typo and a swapped word remove 6 of 23 word 3-grams (Jaccard 0.59) but only a few percent
    # of the character 3-grams, so the short-text fallback still sees a near duplicate.
    q = ("Where is my parcel? It was due on Monday and the tracking page has not changed since Friday, "
         "so could you check with the courier and tell me when it will arrive.")
    items = frame([("1", q, "s", ""), ("2", q.replace("parcel?", "parcle?").replace("Friday", "Thursday"), "s", ""),
                   ("3", "How do I reset my account password? The reset email never arrives, I checked the spam "
                         "folder twice and waited an hour; please send a new link to my work address.", "s", "")])
    got = by_id(Deduplicator().deduplicate(items))
    assert got == {"1": (None, None), "2": ("1", "near"), "3": (None, None)}
    assert by_id(Deduplicator(char_fallback_words=5).deduplicate(items))["2"] == (None, None)


def test_incremental_index(tmp_path, monkeypatch):
    index = tmp_path / "minhash_index"
    hashed: list[int] = []
    original_hash = MinHasher.hash

    def spy(self, texts):
        texts = list(texts)
        hashed.append(len(texts))
        return original_hash(self, texts)

    monkeypatch.setattr(MinHasher, "hash", spy)
    dedup = Deduplicator()
    first_items = frame([
        ("t/1", A, "teacher_synthetic", "2024-01-01"),
        ("t/2", B, "teacher_synthetic", "2024-01-02"),
        ("t/3", OTHER, "teacher_synthetic", "2024-01-03"),
    ])
    first = dedup.deduplicate(first_items, index_dir=index)
    assert hashed == [3]
    assert {p.name for p in index.iterdir()} >= {"settings.json", "signatures.npy", "items.parquet"}
    assert json.loads((index / "settings.json").read_text())["scheme"] == "affine32"

    again = dedup.deduplicate(first_items, index_dir=index)
    pd.testing.assert_frame_equal(again, first)
    assert hashed == [3]  # nothing re-hashed

    # A new near duplicate of the stored survivor, from a source that would rank higher: it points at the
    # stored survivor (published decisions are not reversed); a new unrelated text is kept.
    survivor = first.loc[first["duplicate_of"].isna() & first["id"].isin(["t/1", "t/2"]), "id"].item()
    new_items = pd.concat([first_items, frame([
        ("c/9", replace_words(A, [140], "fresh"), "corrected_outputs", "2025-01-01"),
        ("t/9", text(4), "teacher_synthetic", "2025-01-01"),
    ])], ignore_index=True)
    third = dedup.deduplicate(new_items, index_dir=index)
    assert hashed == [3, 2]
    pd.testing.assert_frame_equal(third.iloc[:3], first)
    assert third["duplicate_of"].notna().sum() == first["duplicate_of"].notna().sum() + 1
    assert by_id(third)["c/9"] == (survivor, "near")
    assert by_id(third)["t/9"] == (None, None)

    # The new drop alone (history not passed again) still meets the stored rows.
    only_new = dedup.deduplicate(frame([("t/10", A.upper(), "teacher_synthetic", "2025-02-01")]), index_dir=index)
    assert by_id(only_new)["t/10"] == (survivor, "exact" if survivor == "t/1" else "near")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="lack column"):
        Deduplicator().deduplicate(pd.DataFrame({"id": ["a"], "text": ["x"]}))
    with pytest.raises(ValueError, match="repeated: \\['a'\\]"):
        Deduplicator().deduplicate(frame([("a", A, "s", ""), ("a", B, "s", "")]))


def test_near_pairs_for_decontamination():
    references = [A, OTHER, "What is the refund policy for damaged items?"]
    queries = [text(7), B, "what is the refund policy for damaged items", C, ""]
    pairs = Deduplicator().near_pairs(queries, references)
    assert [(q, r) for q, r, _ in pairs] == [(1, 0), (2, 2)]
    assert all(s >= 0.8 for _, _, s in pairs)
    assert pairs[0][2] == pytest.approx(jaccard(B, A))
    assert Deduplicator().self_pairs([A, B, C]) == [(0, 1, pytest.approx(jaccard(A, B))),
                                                    (1, 2, pytest.approx(jaccard(B, C)))]
