"""The structured detectors of the PII scrubber: e-mail addresses, phone numbers, IBANs and payment cards.

resources/prepare/scrubber.py runs these first, then presidio for names, addresses and ids, and replaces
everything found by numbered placeholders; ``scrub_pii`` is its one-text entry point.

The hard part is not finding numbers but leaving the ordinary ones alone: order ids (A-10234), prices
(1.299,00 EUR), dates (2026-11-01, 01.02.2026), times, years, postcodes and quantities are what the model must
learn to extract, so every numeric detector is shaped narrowly and checked:
- IBAN: country code + check digits, the country's registered length where known, and the ISO 13616 mod-97 check;
- CARD: card-shaped digit groups, an issuer prefix (2-6) and the Luhn check;
- PHONE: an explicit international prefix (+CC / 00CC), a national trunk prefix (0 then area code), a North
  American (555) 123-4567 shape, or any 7-15 digit number right after a word like "phone" or "tel"; dates and
  ZIP+4 codes are excluded by shape.
Detectors run in that order (email first: addresses contain digits); each masks what it found with characters that
are neither digits nor "@" nor letters, so no later detector reads the same digits again.
"""

from __future__ import annotations

import re
from collections import Counter

EMAIL, PHONE, IBAN, CARD = "[EMAIL]", "[PHONE]", "[IBAN]", "[CARD]"
# Every kind the scrubber replaces (resources/prepare/scrubber.py); the ledger and the metadata count each.
PII_KEYS = ("person", "address", "email", "phone", "iban", "card", "national_id", "ip", "account", "birth_date")

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.[^\W\d_]{2,}"
                    r"(?![\w-]|\.[^\W_])")

# --- IBAN ---------------------------------------------------------------------------------------------------
# Registered IBAN lengths (SWIFT IBAN registry); a code not listed is accepted at any length from 15 to 34.
_IBAN_LENGTH = dict(
    AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BR=29, BY=28, CH=21, CR=22, CY=28, CZ=24, DE=22,
    DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FO=18, FR=27, GB=22, GE=22, GI=23, GL=18, GR=27, GT=28, HR=21, HU=28,
    IE=22, IL=23, IQ=23, IS=26, IT=27, JO=30, KW=30, KZ=20, LB=28, LC=32, LI=21, LT=20, LU=20, LV=21, MC=27, MD=24,
    ME=22, MK=19, MR=27, MT=31, MU=30, NL=18, NO=15, PK=24, PL=28, PS=29, PT=25, QA=29, RO=24, RS=22, SA=24, SC=31,
    SE=24, SI=19, SK=24, SM=27, ST=25, SV=28, TL=23, TN=24, TR=26, UA=29, VA=22, VG=24, XK=20)
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}")


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers (A=10 .. Z=35), mod 97 == 1."""
    s = re.sub(r"[ -]", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", s):
        return False
    if _IBAN_LENGTH.get(s[:2], len(s)) != len(s):
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


def _iban_at(text: str, start: int) -> int:
    """End of the longest valid IBAN starting at ``start`` (single spaces allowed between characters), or -1."""
    ends, i, n, count = [], start, len(text), 0
    while i < n and count < 34:
        if text[i].isascii() and text[i].isalnum():
            count += 1
            i += 1
            if count >= 15 and (i == n or not (text[i].isascii() and text[i].isalnum())):
                ends.append(i)
        elif text[i] == " " and i + 1 < n and text[i + 1].isascii() and text[i + 1].isalnum():
            i += 1
        else:
            break
    for end in reversed(ends):  # longest first: "DE89 3704 ... 00 FROM" must not swallow the word
        if iban_valid(text[start:end]):
            return end
    return -1


# --- payment cards ------------------------------------------------------------------------------------------
# Card layouts: one run of 13-19 digits, 4-4-4-4 with an optional last group (13-19 digits), or Amex 4-6-5.
_CARD = re.compile(r"(?<![\w+.,/:-])(?:\d{13,19}"
                   r"|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{4})?(?:(?P=sep)\d{1,4})?"
                   r"|\d{4}(?P<amex>[ -])\d{6}(?P=amex)\d{4,5})(?![\w]|[.,/:-]\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# A 12-digit card number (Maestro: 0604, 5x, 6x) is only taken after a word for a card: 1 in 10 twelve-digit ids
# passes Luhn.
_KEYWORD_CARD = re.compile(r"(?P<kw>\b(?:card|karte|kreditkarte|carte|maestro|debit card|ec-karte)\b[^\d\n]{0,20}?)"
                           r"(?P<number>[056]\d{3}([ -]?)\d{4}\3\d{4})(?![\w]|[.,/:-]\d)", re.I)


def _short_card(digits: str) -> bool:
    """Maestro numbers of 12 digits and the legacy 15-digit JCB ranges 1800/2131: issuer prefix required."""
    return (len(digits) == 12 and digits[:4] in ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762",
                                                 "6763")) or (len(digits) == 15 and digits[:4] in ("1800", "2131"))


def _card_sub(counts: Counter):
    def sub(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        # Issuers (Visa 4, Mastercard 2/5, Amex 3, Discover/UnionPay 6) start 2-6; a Luhn-valid "0000..." or
        # "9..." number is an internal id, and 1 in 10 random numbers passes Luhn.
        if luhn_valid(digits) and (13 <= len(digits) <= 19 and digits[0] in "23456" or _short_card(digits)):
            counts["card"] += 1
            return CARD
        return m.group(0)
    return sub


# --- phone numbers ------------------------------------------------------------------------------------------
_B = r"(?<![\w+.,/:\-])"          # not glued to a word, a decimal, a date or an id
_E = r"(?![\w]|[.,/:\-]\d)"       # and not continued by one either
_GROUPS = r"\d+(?:[ \-]\d+)*"     # digit groups joined by single spaces or dashes (mandatory: no ambiguity)
_INTL = rf"(?:\+|\b00)[1-9]\d{{0,2}}(?:[ \-]?\(0\))?[ \-]?(?:\(\d{{1,5}}\)[ \-]?)?{_GROUPS}"
_NATIONAL = (rf"(?:\(0\d{{1,5}}\)[ \-]?|0[1-9]\d{{0,4}}(?:[ ]?/[ ]?|[ \-]?)){_GROUPS}"
             r"|0[1-9]\d{1,4}(?:\.\d{2,5}){2,3}")  # 0170.555.0003; dates of that shape are excluded below
_NANP = r"\(\d{3}\)[ ]?\d{3}[ .\-]\d{4}|\d{3}[.\-]\d{3}[.\-]\d{4}"
_EXT = r"(?:[ ]?(?:x|ext\.?|extension|durchwahl|poste)[ ]?\d{1,6})?"  # 555-123-4567x89: the extension goes too
_PHONE = re.compile(rf"{_B}(?:(?P<intl>{_INTL})|(?P<nanp>{_NANP})|(?P<national>{_NATIONAL})){_EXT}{_E}", re.I)
# A number of any shape right after "phone", "tel.", "call me on" etc. is a phone number even without prefix.
_KEYWORD = (r"\b(?:phone|telephone|tel|telefon|mobile|mobil|handy|cell|fax|call|ring|whatsapp|sms|tél|téléphone|"
            r"portable|appelez-moi|reach me|contact me|erreichbar|joignable)\b\.?"
            r"(?:[ ]?(?:number|no|nr|num)\b\.?)?(?:[ ]?(?:is|on|at|me on|me at|us on|us at)\b)?[ ]?[:#]?[ ]?")
_KEYWORD_PHONE = re.compile(rf"(?P<kw>{_KEYWORD})(?P<number>(?:\(\d{{1,5}}\)[ \-]?)?{_GROUPS}{_EXT}){_E}", re.I)
# A North American number written as ten bare digits is only told from an id when it stands alone on its line
# (a signature block); area code and exchange both start 2-9.
_LINE_PHONE = re.compile(r"^[ \t]*(?P<number>[2-9]\d{2}[2-9]\d{6})[ \t]*$", re.M)
_NOT_PHONE = re.compile(
    r"\d{4}[\-/. ]\d{1,2}[\-/. ]\d{1,2}"      # ISO-style dates 2026-11-01
    r"|\d{1,2}[\-/. ]\d{1,2}[\-/. ]\d{2,4}"   # day-first or month-first dates 01-02-2026
    r"|\d{5}-\d{4}")                          # US ZIP+4


def _phone_like(number: str) -> bool:
    number = re.sub(r"[ ]?(?:x|ext\.?|extension|durchwahl|poste)[ ]?\d+$", "", number, flags=re.I)
    digits = re.sub(r"\D", "", number.replace("(0)", ""))
    return 7 <= len(digits) <= 15 and not _NOT_PHONE.fullmatch(number)


def _phone_sub(counts: Counter):
    def sub(m: re.Match) -> str:
        number = m.group(0)
        ok = _phone_like(number)
        separated = bool(re.search(r"[ \-/()]", number))
        n_digits = sum(c.isdigit() for c in number)
        if m.group("national"):
            # Unseparated, a national number must look complete (10-11 digits) so ids like 0512345 stay.
            ok = ok and (separated or 10 <= n_digits <= 11)
        if m.group("intl") and number.startswith("00"):
            ok = ok and (separated or n_digits >= 11)  # "00" + digits is also how ids are zero-padded
        if not ok:
            return number
        counts["phone"] += 1
        return PHONE
    return sub


def _keyword_phone_sub(counts: Counter):
    def sub(m: re.Match) -> str:
        if not _phone_like(m.group("number")):
            return m.group(0)
        counts["phone"] += 1
        return m.group("kw") + PHONE
    return sub


# Same-length masking keeps every offset valid across passes; a private-use character is no word character, digit
# or "@", so a masked value bounds its neighbours exactly as a placeholder would.
MASK = "\ue000"


def _mask_once(text: str, spans: list[tuple[int, int, str]]) -> str:
    def masked(kind: str, start: int, end: int) -> str:
        spans.append((start, end, kind))
        return MASK * (end - start)

    counts: Counter = Counter()
    card, phone, keyword_phone = _card_sub(counts), _phone_sub(counts), _keyword_phone_sub(counts)
    out = _EMAIL.sub(lambda m: masked("email", *m.span()), text) if "@" in text else text
    if not any(c.isdigit() for c in out):
        return out
    parts, pos = [], 0
    for m in _IBAN_START.finditer(out):
        if m.start() >= pos and (end := _iban_at(out, m.start())) > 0:
            parts += [out[pos:m.start()], masked("iban", m.start(), end)]
            pos = end
    out = "".join(parts) + out[pos:]
    out = _CARD.sub(lambda m: masked("card", *m.span()) if card(m) == CARD else m.group(0), out)
    out = _KEYWORD_CARD.sub(lambda m: m.group("kw") + masked("card", *m.span("number"))
                            if luhn_valid(re.sub(r"\D", "", m.group("number"))) else m.group(0), out)
    out = _PHONE.sub(lambda m: masked("phone", *m.span()) if phone(m) == PHONE else m.group(0), out)
    out = _KEYWORD_PHONE.sub(lambda m: m.group("kw") + masked("phone", *m.span("number"))
                             if keyword_phone(m) != m.group(0) else m.group(0), out)
    return _LINE_PHONE.sub(lambda m: m.group(0).replace(m.group("number"), masked("phone", *m.span("number"))), out)


def structured_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every e-mail address, IBAN, payment card and phone number in ``text``.

    Repeated until nothing changes: a found value changes its neighbours' boundaries (two numbers glued together
    are only told apart once the first is gone). Every pass that finds something removes digits or "@", so this
    ends.
    """
    spans: list[tuple[int, int, str]] = []
    while text:
        out = _mask_once(text, spans)
        if out == text:
            break
        text = out
    return sorted(spans)


def scrub_pii(text: str) -> tuple[str, Counter]:
    """Scrub one text on its own (a conversation of one turn): typed, numbered placeholders and counts per kind.

    Every kind the scrubber knows is replaced (resources/prepare/scrubber.py); this is the one-string entry point.
    """
    from resources.prepare.scrubber import Conversation

    conv = Conversation()
    return conv.scrub(text), conv.counts
