"""Text -> set of k-shingles, the unit every Jaccard similarity in deduplication is measured on.

Text is lower-cased and its whitespace collapsed to single spaces first (``normalise``), so re-wrapped or
re-cased copies are exact duplicates.

Why word 5-grams by default: the texts are chats about a handful of tasks, so unrelated examples share most of
their vocabulary. Word unigrams or short character shingles make two different answers on the same topic look
30-60 % similar; word 5-grams are order-sensitive and almost never shared by accident, so a Jaccard of 0.8 on
them means "the same text with a few edits". They are also ~6x fewer per text than character shingles, which
is what makes hashing a large drop cheap.

Why character 5-grams for short texts: one edited word removes up to k word shingles, so below ~50 words a
single typo already drops word-5-gram Jaccard under 0.8 (``(n-9)/(n+1)`` for n words). Character shingles
lose only a few percent per edited word, so short prompts that differ by a typo or punctuation still match.
A pair straddling the cut-off (one text just under, one just over) is compared on different shingle kinds and
never matches; that is the price of one rule for every text.

These string functions are the definition; ``tokens.py`` computes the same tokens for a whole batch from the
text bytes (same lower-casing kernel, same whitespace), and tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
# Texts with fewer words than this are shingled by characters (see the module docstring for the 50).
CHAR_FALLBACK_WORDS = 50


@dataclass(frozen=True)
class Shingling:
    """How a text becomes shingles: ``size``-grams of words, or of characters for short texts.

    ``unit="char"`` forces character shingles for every text; ``unit="word"`` uses words whenever the text has at
    least ``min_words`` words (never fewer than ``size``, so a word shingle always holds exactly ``size`` words).
    """

    size: int = 5
    unit: str = "word"
    min_words: int = CHAR_FALLBACK_WORDS

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"shingle size must be >= 1, got {self.size}")
        if self.unit not in ("word", "char"):
            raise ValueError(f"shingle unit must be 'word' or 'char', got {self.unit!r}")

    def uses_words(self, n_words: int) -> bool:
        return self.unit == "word" and n_words >= max(self.min_words, self.size)


def _lower(text: str) -> str:
    import pyarrow as pa
    import pyarrow.compute as pc

    # pyarrow's Unicode lower-casing, the same kernel the batch path (tokens.py) runs on whole batches
    return pc.utf8_lower(pa.array([text], type=pa.large_string()))[0].as_py()


def normalise(text: str) -> str:
    """Lower-cased text with every run of whitespace (as ``str.isspace`` defines it) replaced by one space and
    no leading or trailing space."""
    return " ".join(_lower(text).split()) if text else ""


def shingle_tokens(text: str, shingling: Shingling = Shingling()) -> list[str]:
    """The token sequence the shingles are cut from: words, or the characters of the normalised text."""
    norm = normalise(text)
    words = norm.split(" ") if norm else []
    return words if shingling.uses_words(len(words)) else list(norm)


def shingles(text: str, shingling: Shingling = Shingling()) -> set[str]:
    """The set of k-shingles of ``text``: word k-grams joined by one space, or character k-grams.

    A text with fewer than k tokens is one shingle (itself); an empty text has none.
    """
    norm = normalise(text)
    words = norm.split(" ") if norm else []
    k = shingling.size
    if shingling.uses_words(len(words)):
        return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}
    if not norm:
        return set()
    if len(norm) < k:
        return {norm}
    return {norm[i:i + k] for i in range(len(norm) - k + 1)}


def shingle_token_split(shingle: str, size: int) -> list[str]:
    """Recover the tokens of one shingle made by ``shingles``: a word shingle of ``size`` words is at least
    ``2*size-1`` characters long, a character shingle at most ``size``, so the length tells them apart (for
    size 1 both readings give the same single token)."""
    return list(shingle) if len(shingle) <= size else shingle.split(" ")
