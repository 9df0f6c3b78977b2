"""Tokens of a whole batch of texts, hashed straight from the UTF-8 bytes with numpy.

The shingles of a text (``shingles.py``) are cut from its tokens: its words, or for short texts the characters
of its normalised form (words joined by single spaces). For MinHash only the tokens' hashes matter, so instead
of materialising millions of small Python or Arrow strings this module works on the normalised text bytes
(``normalise.normalised_array``):

- separators are found byte-wise: whitespace (exactly the code points ``str.isspace`` knows, multi-byte ones
  included) and ASCII punctuation (left in pure-ASCII texts by ``normalised_array``), so words are the runs of
  other bytes;
- ``token_hash64`` of a token reads its bytes as little-endian 64-bit pieces, so most words are ONE unaligned
  8-byte load from the buffer; the pieces are combined by a multiply-add (bijective for tokens of up to 8
  bytes: no two distinct short words of one length collide) and avalanched with MurmurHash3's finaliser;
- a text's digest (exact-duplicate identity) is a position-keyed sum of its token hashes, two independent
  64-bit lanes, computed for all texts with ``np.add.reduceat``.

``token_hash64`` is the plain-Python definition the vectorised code is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from resources.dedup.normalise import ASCII_PUNCTUATION, normalised_array
from resources.dedup.shingles import Shingling

M64 = (1 << 64) - 1
_PIECE_MULT = 0x9FB21C651E98DF25  # odd: (h + piece) * mult is a bijection of the piece
_LEN_SALT = 0xC2B2AE3D27D4EB4F
_DIGEST_KEYS = (0xD6E8FEB86659FD93, 0xA0761D6478BD642F)  # one per digest lane
_PIECE_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [M64], dtype=np.uint64)
FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)  # MurmurHash3 64-bit finaliser

# Whitespace as str.isspace() defines it: single ASCII bytes, plus these multi-byte UTF-8 sequences.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True
_SEPARATOR = _ASCII_SPACE.copy()
_SEPARATOR[list(ASCII_PUNCTUATION)] = True
_WIDE_SPACES = [chr(c).encode("utf-8") for c in
                [0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]]


def fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = FMIX64
    h ^= h >> s1
    h = (h * m1) & M64
    h ^= h >> s2
    h = (h * m2) & M64
    return h ^ (h >> s3)


def fmix64(h: np.ndarray) -> np.ndarray:
    return fmix(h, FMIX64, np.uint64)


def fmix(h: np.ndarray, constants: tuple[int, ...], dtype) -> np.ndarray:
    """MurmurHash3's finaliser with the shifts and multipliers of one width (64-bit here, 32-bit for datasketch's
    pre-mix), in that width's wrapping arithmetic."""
    s1, m1, s2, m2, s3 = (dtype(v) for v in constants)
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def token_hash64(token: str) -> int:
    """64-bit hash of one token (a word, or one character)."""
    data = token.encode("utf-8")
    h = (len(data) * _LEN_SALT) & M64
    for i in range(0, len(data), 8):
        h = ((h + int.from_bytes(data[i:i + 8], "little")) * _PIECE_MULT) & M64
    return fmix64_int(h)


_SPACE_HASH = token_hash64(" ")


@dataclass
class TokenStream:
    """Token hashes of a batch, text i's tokens are ``hashes[offsets[i]:offsets[i+1]]``.

    ``word_mode[i]`` says whether text i was cut into words (else characters); ``digests[i]`` identifies its
    normalised text (equal digests = exact duplicates).
    """

    hashes: np.ndarray
    offsets: np.ndarray
    word_mode: np.ndarray
    digests: list[str]


def _normalised_bytes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    low = normalised_array(texts)
    _, off_buf, data_buf = low.buffers()
    offsets = np.frombuffer(off_buf, np.int64)[low.offset:low.offset + len(low) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return data[offsets[0]:offsets[-1]], offsets - offsets[0]


def _separators(data: np.ndarray) -> np.ndarray:
    ws = _SEPARATOR[data]
    high = np.flatnonzero(data >= 0xC2)
    leads = high[np.isin(data[high], (0xC2, 0xE1, 0xE2, 0xE3))]
    for seq in _WIDE_SPACES:
        hit = leads[leads + len(seq) <= len(data)]
        for k, byte in enumerate(seq):
            hit = hit[data[hit + k] == byte]
        for k in range(len(seq)):
            ws[hit + k] = True
    return ws


def _segment_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``token_hash64`` of every byte range [starts[i], ends[i]) of ``data``."""
    if not len(starts):
        return np.empty(0, np.uint64)
    padded = np.zeros(len(data) + 8, np.uint8)
    padded[:len(data)] = data
    # element i = the 8 bytes starting at byte i, read little-endian (an unaligned view, no copy)
    window = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    lengths = ends - starts
    mult = np.uint64(_PIECE_MULT)
    h = lengths.astype(np.uint64) * np.uint64(_LEN_SALT)
    h += window[starts] & _PIECE_MASKS[np.minimum(lengths, 8)]
    h *= mult
    active = np.flatnonzero(lengths > 8)  # the few tokens longer than one piece
    piece = 1
    while len(active):
        left = lengths[active] - 8 * piece
        value = window[starts[active] + 8 * piece] & _PIECE_MASKS[np.minimum(left, 8)]
        h[active] = (h[active] + value) * mult
        piece += 1
        active = active[left > 8]
    return fmix64(h)


def _place(counts: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """Slot of each item in a doc-ordered output, for items sorted by ``doc`` (``counts`` items per doc)."""
    doc_first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    item_first = np.searchsorted(doc, np.arange(len(counts)), side="left")
    return doc_first[doc] + (np.arange(len(doc)) - item_first[doc])


def tokenize(texts: Sequence[str], shingling: Shingling = Shingling()) -> TokenStream:
    n = len(texts)
    data, offsets = _normalised_bytes(texts)
    total = len(data)
    ws = _separators(data) if total else np.empty(0, bool)

    # Words: maximal runs of non-whitespace bytes inside one text.
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    prev_ws = np.empty(total, bool)
    next_ws = np.empty(total, bool)
    if total:
        prev_ws[0], prev_ws[1:] = True, ws[:-1]
        next_ws[-1], next_ws[:-1] = True, ws[1:]
        prev_ws[offsets[nonempty]] = True
        next_ws[offsets[nonempty + 1] - 1] = True
    starts = np.flatnonzero(~ws & prev_ws)
    ends = np.flatnonzero(~ws & next_ws) + 1
    word_doc = np.searchsorted(offsets, starts, side="right") - 1
    n_words = np.bincount(word_doc, minlength=n)
    if shingling.unit == "word":
        word_mode = n_words >= max(shingling.min_words, shingling.size)
    else:
        word_mode = np.zeros(n, bool)

    in_word_mode = word_mode[word_doc]
    w_starts, w_ends, w_doc = starts[in_word_mode], ends[in_word_mode], word_doc[in_word_mode]
    word_hashes = _segment_hashes(data, w_starts, w_ends)
    if word_mode.all():
        hashes, counts = word_hashes, n_words
    else:
        # Characters of the normalised text of every other text: each code point of its words, and one space
        # between consecutive words.
        c_starts, c_ends, c_doc = starts[~in_word_mode], ends[~in_word_mode], word_doc[~in_word_mode]
        in_chars = np.zeros(total + 1, np.int64)
        np.add.at(in_chars, c_starts, 1)
        np.add.at(in_chars, c_ends, -1)
        char_byte = np.cumsum(in_chars[:-1]) > 0
        lead = data[char_byte] if total else data
        pos = np.flatnonzero(char_byte)[(lead & 0xC0) != 0x80]
        first = data[pos]
        width = np.where(first < 0x80, 1, np.where(first < 0xE0, 2, np.where(first < 0xF0, 3, 4)))
        cp_hashes = _segment_hashes(data, pos, pos + width)
        cp_doc = np.searchsorted(offsets, pos, side="right") - 1
        gap = np.flatnonzero(c_doc[:-1] == c_doc[1:])  # a word followed by another word of the same text
        sp_pos, sp_doc = c_ends[gap], c_doc[gap]
        c_pos = np.concatenate([pos, sp_pos])
        order = np.argsort(c_pos, kind="stable")
        char_hashes = np.concatenate([cp_hashes, np.full(len(sp_pos), np.uint64(_SPACE_HASH))])[order]
        char_doc = np.concatenate([cp_doc, sp_doc])[order]

        counts = np.where(word_mode, n_words, np.bincount(char_doc, minlength=n))
        hashes = np.empty(int(counts.sum()), np.uint64)
        hashes[_place(counts, w_doc)] = word_hashes
        hashes[_place(counts, char_doc)] = char_hashes

    token_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return TokenStream(hashes, token_offsets, word_mode, _digests(hashes, token_offsets, word_mode))


def _digests(hashes: np.ndarray, offsets: np.ndarray, word_mode: np.ndarray) -> list[str]:
    """Per text: how it was cut, its token count and two 64-bit lanes of sum(fmix64(token ^ key * (position+1)))
    — the sequence of tokens, so the normalised text, up to 64-bit hash collisions."""
    counts = np.diff(offsets)
    lanes = []
    docs = np.flatnonzero(counts > 0)
    position = (np.arange(len(hashes)) - np.repeat(offsets[:-1], counts) + 1).astype(np.uint64)
    for key in _DIGEST_KEYS:
        lane = np.zeros(len(counts), np.uint64)
        if len(docs):
            lane[docs] = np.add.reduceat(fmix64(hashes ^ (position * np.uint64(key))), offsets[docs])
        lanes.append(lane.tolist())
    return [f"{'w' if w else 'c'}{c:x}:{a:016x}{b:016x}"
            for w, c, a, b in zip(word_mode.tolist(), counts.tolist(), lanes[0], lanes[1])]


def text_digests(texts: Sequence[str], shingling: Shingling = Shingling()) -> list[str]:
    """Digest of each text's normalised form (equal digests = exact duplicates), without any MinHash work."""
    return tokenize(texts, shingling).digests
