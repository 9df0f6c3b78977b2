"""Scrub personal data from a conversation: typed placeholders, numbered consistently across its turns.

The same person stays ``[PERSON_1]`` in every turn (and "Élodie" alone is still ``[PERSON_1]`` after "Élodie
Martin"), so the model still learns who says what to whom without learning who they are.

One text is scrubbed in four steps:
1. fold: matching runs on the NFKC form of each character (full-width "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ" is an
   e-mail address), and every found span is mapped back to the original characters, so nothing else changes;
2. the structured detectors of resources/prepare/pii.py (e-mail, IBAN, payment card, phone), which mask what they
   find so no other recognizer reads an IBAN's digits again;
3. presidio's AnalyzerEngine with the recognizers of pii_patterns.py (addresses, national ids, IP addresses,
   account ids, birth dates, and person names from pii_names.py);
4. overlaps resolved (the earlier and then the longer span wins) and each span replaced by its placeholder.
The engine is built once per process (``analyzer``): building it compiles every pattern.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter

from resources.prepare.pii import MASK, structured_spans

# detector kind (pii.py's names, presidio's entity types) -> (count key in PII_KEYS, placeholder stem)
KINDS = {"email": ("email", "EMAIL"), "phone": ("phone", "PHONE"), "iban": ("iban", "IBAN"), "card": ("card", "CARD"),
         "PERSON": ("person", "PERSON"), "ADDRESS": ("address", "ADDRESS"), "NATIONAL_ID": ("national_id", "ID"),
         "IP_ADDRESS": ("ip", "IP"), "ACCOUNT_ID": ("account", "ACCOUNT"), "BIRTH_DATE": ("birth_date", "BIRTH_DATE")}
THRESHOLD = 0.5  # presidio score: checksum-validated ids score 1.0, an id whose check fails 0 (dropped)
# presidio logs every recognizer it loads and, at INFO, a line per analysed text: noise in a run's log
logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)


def fold(text: str) -> tuple[str, list[int] | None]:
    """The NFKC form of ``text`` character by character, and for each folded character its original index."""
    if text.isascii():
        return text, None
    out, origin = [], []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


@functools.cache
def analyzer():
    """presidio's AnalyzerEngine with this project's recognizers; no NLP model (none is needed, see pii_names)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    from resources.prepare.pii_patterns import LANGUAGE, recognizers

    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in recognizers():
        registry.add_recognizer(recognizer)
    engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=[LANGUAGE],
                          default_score_threshold=THRESHOLD)


@functools.cache
def _checksum_ids():
    from resources.prepare.pii_patterns import checksum_ids

    return checksum_ids()


def _masked(text: str, spans: list[tuple[int, int, str]]) -> str:
    chars = list(text)
    for start, end, _ in spans:
        chars[start:end] = MASK * (end - start)
    return "".join(chars)


def detect(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every piece of personal data in ``text``, non-overlapping, in order."""
    if not text:
        return []
    folded, origin = fold(text)
    spans = [(r.start, r.end, r.entity_type) for c in _checksum_ids() for r in c.analyze(folded, c.supported_entities)
             if r.score >= THRESHOLD] if any(c.isdigit() for c in folded) else []
    masked = _masked(folded, spans)
    spans += [(s, e, k) for s, e, k in structured_spans(masked)]
    masked = _masked(masked, spans)
    if any(c.isupper() or c.isdigit() for c in masked):
        from resources.prepare.pii_patterns import LANGUAGE

        spans += [(r.start, r.end, r.entity_type) for r in analyzer().analyze(masked, language=LANGUAGE)
                  if MASK not in masked[r.start:r.end]]
    chosen, last = [], -1
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if start >= last:
            chosen.append((start, end, kind))
            last = end
    if origin is None:
        return chosen
    return [(origin[s], origin[e - 1] + 1, k) for s, e, k in chosen]


def _canonical(kind: str, value: str) -> str:
    if kind == "PERSON":
        from resources.prepare.pii_names import plain

        return " ".join(plain(w) for w in re.findall(r"\w+", value))
    if kind in ("email", "ADDRESS"):
        return re.sub(r"\W", "", unicodedata.normalize("NFKC", value)).lower()
    return re.sub(r"[^0-9A-Za-z]", "", unicodedata.normalize("NFKC", value)).upper()


class Conversation:
    """Placeholders for one conversation: ``scrub`` every text of it through the same instance."""

    def __init__(self):
        self.counts: Counter = Counter()
        self._numbers: dict[tuple[str, str], str] = {}
        self._people: list[tuple[frozenset[str], str]] = []  # name words -> placeholder
        self._detected: dict[str, list[tuple[int, int, str]]] = {}

    def learn(self, text: str) -> None:
        """Detect ``text`` ahead of scrubbing, so a name first seen in a later turn is known in earlier ones."""
        for start, end, kind in self._detect(text):
            self._placeholder(kind, text[start:end])

    def _detect(self, text: str) -> list[tuple[int, int, str]]:
        if text not in self._detected:
            self._detected[text] = detect(text)
        return self._detected[text]

    def _placeholder(self, kind: str, value: str) -> str:
        key, stem = KINDS[kind]
        canonical = _canonical(kind, value)
        if kind == "PERSON":
            words = frozenset(canonical.split())
            for known, placeholder in self._people:
                if words <= known or known <= words:
                    return placeholder
        if (kind, canonical) not in self._numbers:
            n = sum(1 for k, _ in self._numbers if KINDS[k][1] == stem) + 1
            self._numbers[(kind, canonical)] = f"[{stem}_{n}]"
            if kind == "PERSON":
                self._people.append((frozenset(canonical.split()), f"[{stem}_{n}]"))
        return self._numbers[(kind, canonical)]

    def _known_names(self, text: str, taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Words of a person already named in this conversation ("Martin" after "Élodie Martin")."""
        from resources.prepare.pii_names import name_words_in

        words = {w for known, _ in self._people for w in known}
        free = [(s, e, k) for s, e, k in name_words_in(text, words)
                if not any(s < te and ts < e for ts, te, _ in taken)]
        return free

    def scrub(self, text: str) -> str:
        """``text`` with every piece of personal data replaced; ``counts`` adds one per replacement and kind."""
        if not isinstance(text, str) or not text:
            return text
        spans = list(self._detect(text))
        for start, end, kind in spans:
            self._placeholder(kind, text[start:end])
        spans = sorted(spans + self._known_names(text, spans))
        out, pos = [], 0
        for start, end, kind in spans:
            out += [text[pos:start], self._placeholder(kind, text[start:end])]
            self.counts[KINDS[kind][0]] += 1
            pos = end
        out.append(text[pos:])
        return "".join(out)
