"""Normalisation before shingling: trivial copies (case, spacing, punctuation, Unicode form, accents) are one text."""

from __future__ import annotations

import unicodedata

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.dedup.resource import Deduplicator
from resources.dedup.minhash import MinHasher
from resources.dedup.normalise import FOLDS, normalise

QUESTION = ("A café in Tromsø sells 16 crêpes a day, eats three, and bakes four for friends. It sells the rest at "
            "the farmers' market for $2 each. How much does it make every day?")
COPIES = {
    "case": QUESTION.upper(),
    "whitespace": QUESTION.replace(" ", "\n  ", 7),
    "commas removed, ? spaced out": QUESTION.replace(",", "").replace("?", " ?"),
    "typographic quotes": QUESTION.replace("'", "\u2019"),
    "NFKD, full-width digits, ligature": unicodedata.normalize("NFKD", QUESTION).replace("16", "１６")
                                         .replace("fi", "\ufb01"),
    "accents lost": "A cafe in Tromso sells 16 crepes a day, eats three, and bakes four for friends. It sells the "
                    "rest at the farmers' market for $2 each. How much does it make every day?",
}


def test_trivial_copies_are_exact_duplicates():
    texts = [QUESTION, *COPIES.values()]
    batch = MinHasher(64, 1, workers=1).hash(texts)
    for (what, copy), digest in zip(COPIES.items(), batch.digests[1:]):
        assert digest == batch.digests[0], what
        assert normalise(copy) == normalise(QUESTION), what
    items = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts, "source": "s", "created_at": ""})
    result = Deduplicator().deduplicate(items)
    assert result["duplicate_of"].tolist() == [None] + ["0"] * len(COPIES)
    assert set(result["kind"][1:]) == {"exact"}


def test_symbols_and_words_still_count():
    assert normalise("2 + 2 = 4, costs $5!") == "2 + 2 = 4 costs $5"
    assert normalise("Straße ΣΟΦΟΣ don't Tromsø Œuvre") == "strasse σοφοσ don t tromso oeuvre"
    assert normalise("") == "" and normalise(" ?! ") == ""


def _reference(text: str) -> str:
    """The definition in plain Python (``str.casefold`` does what lower-casing plus ß and ς does)."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(FOLDS.get(c, c) for c in "".join(c for c in decomposed if unicodedata.category(c) != "Mn").casefold())
    spaced = "".join(" " if unicodedata.category(c).startswith("P") else c for c in kept)
    return " ".join(unicodedata.normalize("NFC", spaced).split())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(list("aZ 09.,?!'\"-_()$+=\t\n\xa0\u2003ßẞςΣİéñøÅ“”’…«»—ﬁ１！日한😀")
                                + ["e\u0301", "\u1100\u1161"]), max_size=60).map("".join))
def test_batch_normalisation_equals_the_plain_python_definition(text):
    assert normalise(text) == _reference(text)
