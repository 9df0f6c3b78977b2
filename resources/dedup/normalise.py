"""What two texts must share to count as the same: their text after ``normalise``, before any shingling.

Copies of one text come back re-cased, re-spaced, with commas dropped or ``?`` spaced out, in another Unicode
form (full-width digits, ligatures, decomposed accents) or with accents lost. None of that changes what a model
learns from the text, so all of it is removed before shingling, for the whole batch in a few pyarrow kernels:

1. NFKD: compatibility forms (full-width, ligatures, no-break spaces) become plain characters and accents become
   separate combining marks;
2. combining marks (``\\p{Mn}``) are dropped: the diacritics; so are the strokes of the letters Unicode does
   not decompose (``ø ł đ ħ ŧ`` become ``o l d h t``, ``æ œ`` become ``ae oe``, as an ASCII keyboard writes them);
3. Unicode lower-casing, plus ``ß -> ss`` and ``ς -> σ``: the two case folds of Latin and Greek that
   lower-casing misses (the rest of ``str.casefold`` is covered by step 1);
4. punctuation (``\\p{P}``) becomes a space, so ``don't`` is two words and ``parcel?`` is ``parcel``; symbols
   (``$ + = %``...) stay, they change what a maths text says;
5. NFC recomposes what is left (Hangul, scripts whose marks are spacing), so a character stays one token.

Whitespace is collapsed by whoever splits the result into words. Pure-ASCII texts skip the Unicode steps (they
are no-ops there) and have only their punctuation bytes turned into spaces, ``ASCII_PUNCTUATION``: this keeps
normalisation of ordinary English text as cheap as the lower-casing it replaces.

Changing any step changes every shingle: ``VERSION`` is part of the index settings, so an index built with
another normalisation is rebuilt rather than compared with new hashes.
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

VERSION = "nfkd-nomarks-fold-nopunct-nfc-1"

# Lower-case letters whose accent is part of the letter, and the case folds lower-casing misses (steps 2 and 3).
FOLDS = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe", "ß": "ss", "ς": "σ"}

# The ASCII characters of Unicode category P*; the regex of step 4 replaces exactly these among ASCII bytes.
ASCII_PUNCTUATION = bytes(c for c in range(128) if unicodedata.category(chr(c)).startswith("P"))


def normalised_array(texts: Sequence[str]):
    """pyarrow ``large_string`` array of every text normalised (not None: a missing text is empty), its
    whitespace not yet collapsed; ASCII texts keep their punctuation, which ``ASCII_PUNCTUATION`` names."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array([t if isinstance(t, str) else "" for t in texts], type=pa.large_string())
    low = pc.utf8_lower(arr)
    ascii_ = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    if ascii_.all():
        return low
    other = np.flatnonzero(~ascii_)
    wide = _unicode_steps(arr.take(pa.array(other)))
    # put the normalised non-ASCII texts back in input order
    order = np.empty(len(arr), np.int64)
    order[np.flatnonzero(ascii_)] = np.arange(int(ascii_.sum()))
    order[other] = int(ascii_.sum()) + np.arange(len(other))
    return pa.concat_arrays([low.filter(pa.array(ascii_)), wide]).take(pa.array(order))


def _unicode_steps(arr):
    import pyarrow.compute as pc

    arr = pc.utf8_normalize(arr, "NFKD")
    arr = pc.replace_substring_regex(arr, r"\p{Mn}+", "")
    arr = pc.utf8_lower(arr)
    for letter, plain in FOLDS.items():
        arr = pc.replace_substring(arr, letter, plain)
    arr = pc.replace_substring_regex(arr, r"\p{P}+", " ")
    return pc.utf8_normalize(arr, "NFC")


def normalise(text: str) -> str:
    """``text`` as deduplication compares it: normalised as above, punctuation and runs of whitespace (as
    ``str.isspace`` defines it) turned into single spaces, no leading or trailing space."""
    if not text:
        return ""
    return " ".join(normalised_array([text])[0].as_py().translate(_ASCII_TO_SPACE).split())


_ASCII_TO_SPACE = {c: " " for c in ASCII_PUNCTUATION}
