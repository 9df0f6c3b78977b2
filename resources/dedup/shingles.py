"""Text -> set of k-shingles, the unit every Jaccard similarity in deduplication is measured on.

Text is normalised first (``normalise.normalise``: case folded, Unicode NFKC without diacritics, punctuation
and whitespace runs to single spaces), so re-wrapped, re-cased or re-punctuated copies are exact duplicates.

Why word 3-grams by default: the texts are chats about a handful of tasks, so unrelated examples share most of
their vocabulary. Word unigrams make two different answers on the same topic look 30-60 % similar; word
3-grams are order-sensitive and rarely shared by accident, so a Jaccard of 0.8 on them means "the same text with
a few edits". They are also ~6x fewer per text than character shingles, which is what makes hashing a large
drop cheap. Why 3 and not 5 (the size used until the light-edit benchmark, ``benchmarks/light_edits.py``): one
edited word removes up to k shingles, so a text of n words with two typos keeps a Jaccard of about
``(n-2k-1)/(n+2k-1)``; for the 60-150-word texts that are most of a chat corpus, 5-grams lose such copies (recall
0.75 on one or two typos in GSM8K items) and 3-grams keep them (0.94), while precision stays above 0.99 on
distinct real texts.

Why character 3-grams for short texts: below ~50 words even a single edited word drops word-shingle Jaccard
near 0.8; character shingles lose only a few percent per edited word, so short prompts that differ by a typo
or a swapped word still match. A pair straddling the cut-off (one text just under, one just over) is compared
on different shingle kinds and never matches; that is the price of one rule for every text (0.5 % of the
light-edit copies).

These string functions are the definition; ``tokens.py`` computes the same tokens for a whole batch from the
text bytes (same normalisation kernels, same separators), and tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.dedup.normalise import normalise

# Texts with fewer words than this are shingled by characters (see the module docstring for the 50).
CHAR_FALLBACK_WORDS = 50


@dataclass(frozen=True)
class Shingling:
    """How a text becomes shingles: ``size``-grams of words, or of characters for short texts.

    ``unit="char"`` forces character shingles for every text; ``unit="word"`` uses words whenever the text has at
    least ``min_words`` words (never fewer than ``size``, so a word shingle always holds exactly ``size`` words).
    """

    size: int = 3
    unit: str = "word"
    min_words: int = CHAR_FALLBACK_WORDS

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"shingle size must be >= 1, got {self.size}")
        if self.unit not in ("word", "char"):
            raise ValueError(f"shingle unit must be 'word' or 'char', got {self.unit!r}")

    def uses_words(self, n_words: int) -> bool:
        return self.unit == "word" and n_words >= max(self.min_words, self.size)


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
