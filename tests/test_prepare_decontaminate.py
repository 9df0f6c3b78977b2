"""Training items close to held-out or benchmark items are removed, and the leak check then finds nothing."""

import pandas as pd
import pytest

from resources.prepare.decontaminate import decontaminate, find_leaks
from resources.schema import EXAMPLE_COLUMNS, make_example


def _shingles(text, k=3):
    words = text.lower().split()
    return {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}


def brute_force_pairs(queries, references, threshold=0.5):
    """Exact Jaccard over word 3-shingles, every pair: the reference behaviour the MinHash engine approximates."""
    out = []
    for q, a in enumerate(queries):
        for r, b in enumerate(references):
            sa, sb = _shingles(a), _shingles(b)
            j = len(sa & sb) / len(sa | sb) if sa | sb else 0.0
            if j >= threshold:
                out.append((q, r, j))
    return out


def _ex(row, question, answer, drop="d1"):
    return make_example(source="expert_annotations", drop=drop, row=row, task="policy_qa",
                        messages=[{"role": "user", "content": question}, {"role": "assistant", "content": answer}])


QA = [
    ("How many days do I have to return an unopened item bought online?",
     "You can return unopened items within 30 days of delivery for a full refund."),
    ("Can I change the delivery address after my order has shipped?",
     "Once an order has shipped the address cannot be changed, but you can redirect it with the carrier."),
    ("Do you ship to Switzerland and what does shipping cost there?",
     "Yes, shipping to Switzerland costs 12 euros and takes four to six working days."),
    ("What payment methods are accepted at checkout in the web shop?",
     "We accept credit cards, bank transfer and invoice for returning customers at checkout."),
]
BENCHMARK = ["Which planet is known as the red planet in our solar system and why is it red?"]


@pytest.fixture
def frames():
    evals = pd.DataFrame([_ex(1, *QA[0], drop="held")], columns=list(EXAMPLE_COLUMNS))
    train = pd.DataFrame([
        _ex(1, QA[0][0].replace("online", "on the website"), QA[0][1]),    # paraphrase of the held-out item
        _ex(2, *QA[1]), _ex(3, *QA[2]), _ex(4, *QA[3]),
        _ex(5, BENCHMARK[0], "Mars, because of iron oxide dust on its surface."),  # a benchmark question
        _ex(6, "  how many days do I have to RETURN an unopened item bought online? ", QA[0][1] + "\n"),
    ], columns=list(EXAMPLE_COLUMNS))
    return train, evals


def test_contaminated_training_items_are_removed(frames):
    train, evals = frames
    assert {t for t, _, _ in find_leaks(train, evals, brute_force_pairs)} == {
        "expert_annotations/d1/1", "expert_annotations/d1/6"}
    clean, evals_out, ledger, stats = decontaminate(train, evals, BENCHMARK, brute_force_pairs)
    assert list(clean["id"]) == ["expert_annotations/d1/2", "expert_annotations/d1/3", "expert_annotations/d1/4"]
    assert evals_out is evals
    reasons = dict(zip(ledger["id"], ledger["reason"]))
    assert reasons["expert_annotations/d1/1"].startswith("contaminates_eval:expert_annotations/held/1 (")
    assert reasons["expert_annotations/d1/6"].startswith("contaminates_eval:expert_annotations/held/1 (")
    assert reasons["expert_annotations/d1/5"].startswith("contaminates_benchmark:benchmark/1 (")
    assert len(ledger) == len(train) + len(evals) and ledger["id"].is_unique
    assert set(ledger.loc[ledger["state"] == "filtered", "stage"]) == {"decontaminate"}
    assert stats["contaminates_eval"] == 2 and stats["contaminates_benchmark"] == 1 and stats["train_out"] == 3
    assert find_leaks(clean, evals, brute_force_pairs) == [] and stats["remaining"] == []


def test_similarity_alone_still_removes_paraphrases(frames):
    train, evals = frames
    clean, _, ledger, stats = decontaminate(train, evals, BENCHMARK, brute_force_pairs, containment=None)
    assert "expert_annotations/d1/1" not in set(clean["id"]) and stats["contaminates_benchmark"] == 1
    assert "jaccard" in dict(zip(ledger["id"], ledger["reason"]))["expert_annotations/d1/5"]


def test_identical_text_counts_even_if_the_similarity_engine_misses_it(frames):
    train, evals = frames
    leaks = find_leaks(train, evals, lambda q, r: [])
    assert leaks == [("expert_annotations/d1/6", "expert_annotations/held/1", 1.0)]


def test_with_the_project_deduplicator(frames):
    from resources.dedup.engine import DedupEngine

    near_pairs = DedupEngine(threshold=0.5).near_pairs
    train, evals = frames
    clean, _, _, stats = decontaminate(train, evals, BENCHMARK, near_pairs)
    assert "expert_annotations/d1/1" not in set(clean["id"]) and stats["contaminates_benchmark"] == 1
    assert find_leaks(clean, evals, near_pairs) == []
