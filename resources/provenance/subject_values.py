"""Finding the values that identify a data subject in raw text and records, and normalising them.

Kinds: ``email``, ``phone``, ``iban``, ``card``, ``person`` (the same detectors the PII scrubber uses, so what
the scrubber would remove is what the index knows about; a person by full name, found by the scrubber's name
detector) and ``id`` (customer, account and order ids: a value after a
keyword such as "customer_id", "account no." or "order", a record field with such a name, or an id-shaped token
like ``NH-477845``). Each value is normalised so that two spellings of one value hash alike: e-mail lower-case,
phone digits only with the country code (a national number gets the default country code), IBAN and card without
spaces, ids upper-case.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterator

from resources.prepare import pii

DEFAULT_COUNTRY_CODE = "49"  # national phone numbers ("0170 ...") in the default data are German
KINDS = ("email", "phone", "iban", "card", "id", "person")

_ID_KEY = (r"customer[ _-]?(?:id|number|no|nr|ref)|client[ _-]?(?:id|number)|kunden[ -]?(?:nummer|nr)"
           r"|account(?:[ _-]?(?:id|number|no|nr|ref))?|order(?:[ _-]?(?:id|number|no|nr|ref))?|bestell(?:nummer|nr)")
# keyword, optional quotes/colon/"is"/"#", then a token with at least one digit (not "account page")
_KEYED_ID = re.compile(rf"\b(?:{_ID_KEY})\b\.?[\"']?\s*(?:[:=#]\s*)?[\"']?(?:is\s+)?#?"
                       rf"(?P<value>[A-Za-z0-9][A-Za-z0-9_-]{{2,39}})\b", re.I)
_ID_TOKEN = re.compile(r"(?<![\w-])[A-Z]{1,5}-\d{4,12}(?![\w-])")   # NH-477845, A-10234
_ID_FIELD = re.compile(rf"^(?:{_ID_KEY}|customer|client|account|order|user[ _-]?id)$", re.I)
_EMAIL_FIELD = re.compile(r"e-?mail", re.I)
_PHONE_FIELD = re.compile(r"phone|mobile|tel$|telephone", re.I)
_IBAN_FIELD = re.compile(r"iban", re.I)


# --- normalisation ------------------------------------------------------------------------------------------
def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str, country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    """Digits only, with the country code: +49 (0)170 123 -> 49170123; 0170 123 -> 49170123; 0049 -> 49."""
    v = value.strip().replace("(0)", "")
    digits = re.sub(r"\D", "", v)
    if v.startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        return country_code + digits[1:]
    if len(digits) == 10 and re.fullmatch(r"\(?\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}", v):
        return "1" + digits  # North American shape
    return digits


def normalise_iban(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def normalise_card(value: str) -> str:
    return re.sub(r"\D", "", value)


def normalise_id(value: str) -> str:
    return value.strip().upper()


def normalise_person(value: str) -> str:
    """Lower case, accents and punctuation gone, one space between words: "Élodie  Martin" -> "elodie martin"."""
    from resources.prepare.pii_names import plain

    return " ".join(plain(w) for w in re.findall(r"[^\W\d_]+", value))


NORMALISE = {"email": normalise_email, "phone": normalise_phone, "iban": normalise_iban, "card": normalise_card,
             "id": normalise_id, "person": normalise_person}


# --- extraction ---------------------------------------------------------------------------------------------
def extract_text(text: str, country_code: str = DEFAULT_COUNTRY_CODE) -> list[tuple[str, str]]:
    """(kind, normalised value) for every subject value in free text.

    Detectors run in the scrubber's order and each found value is masked before the next detector runs, so the
    digits of an IBAN are never also read as a phone number.
    """
    found: list[tuple[str, str]] = []
    if not text:
        return found
    counts: Counter = Counter()
    if any(c.isupper() for c in text):  # person names: the scrubber's name detector (resources/prepare/pii_names)
        from resources.prepare.pii_names import find_people

        found.extend(("person", normalise_person(text[s:e])) for s, e in find_people(text))

    def masking(kind: str, accept, placeholder: str, group: str | None = None):
        def sub(m: re.Match) -> str:
            if not accept(m):
                return m.group(0)
            value = m.group(group) if group else m.group(0)
            found.append((kind, normalise_phone(value, country_code) if kind == "phone" else NORMALISE[kind](value)))
            return m.group(0)[:m.start(group) - m.start()] + placeholder if group else placeholder
        return sub

    out = pii._EMAIL.sub(masking("email", lambda m: True, pii.EMAIL), text) if "@" in text else text
    if not any(c.isdigit() for c in out):
        return found
    out = _mask_ibans(out, found)
    card, phone, keyword_phone = pii._card_sub(counts), pii._phone_sub(counts), pii._keyword_phone_sub(counts)
    out = pii._CARD.sub(masking("card", lambda m: card(m) == pii.CARD, pii.CARD), out)
    out = pii._PHONE.sub(masking("phone", lambda m: phone(m) == pii.PHONE, pii.PHONE), out)
    out = pii._KEYWORD_PHONE.sub(masking("phone", lambda m: keyword_phone(m) != m.group(0), pii.PHONE, "number"), out)
    for m in _KEYED_ID.finditer(out):
        if any(c.isdigit() for c in m.group("value")):
            found.append(("id", normalise_id(m.group("value"))))
    found.extend(("id", normalise_id(m.group(0))) for m in _ID_TOKEN.finditer(out))
    return found


def _mask_ibans(text: str, found: list[tuple[str, str]]) -> str:
    out, pos = [], 0
    for m in pii._IBAN_START.finditer(text):
        if m.start() < pos:
            continue
        end = pii._iban_at(text, m.start())
        if end > 0:
            found.append(("iban", normalise_iban(text[m.start():end])))
            out += [text[pos:m.start()], pii.IBAN]
            pos = end
    out.append(text[pos:])
    return "".join(out)


def extract_record(record: Any, country_code: str = DEFAULT_COUNTRY_CODE, _key: str = "") -> Iterator[tuple[str, str]]:
    """Subject values in a raw record: every text value, plus fields named like an id, e-mail, phone or IBAN."""
    if isinstance(record, dict):
        for k, v in record.items():
            yield from extract_record(v, country_code, str(k))
    elif isinstance(record, (list, tuple)):
        for v in record:
            yield from extract_record(v, country_code, _key)
    elif record is not None and not isinstance(record, (bool, float)):
        value = str(record).strip()
        if not value:
            return
        if isinstance(record, str):
            yield from extract_text(value, country_code)
            if value[:1] in "[{":  # JSON kept as text (e.g. an annotation column): its fields count too
                import json

                try:
                    yield from extract_record(json.loads(value), country_code, _key)
                except ValueError:
                    pass
        if _key and len(value) <= 64:
            if _ID_FIELD.match(_key) and any(c.isdigit() for c in value):
                yield "id", normalise_id(value)
            elif _EMAIL_FIELD.search(_key) and "@" in value:
                yield "email", normalise_email(value)
            elif _PHONE_FIELD.search(_key) and sum(c.isdigit() for c in value) >= 7:
                yield "phone", normalise_phone(value, country_code)
            elif _IBAN_FIELD.search(_key) and pii.iban_valid(value):
                yield "iban", normalise_iban(value)


def query_values(value: str, country_code: str = DEFAULT_COUNTRY_CODE) -> set[tuple[str, str]]:
    """Every normalised reading of a value someone asks about (its kind is not given): all plausible kinds."""
    v = value.strip()
    found = set(extract_text(v, country_code))
    if "@" in v:
        found.add(("email", normalise_email(v)))
    if pii.iban_valid(v):
        found.add(("iban", normalise_iban(v)))
    digits = re.sub(r"\D", "", v)
    if re.fullmatch(r"[+\d\s().\-/]+", v) and 7 <= len(digits) <= 15:
        found.add(("phone", normalise_phone(v, country_code)))
    if re.fullmatch(r"[\d\s-]+", v) and 13 <= len(digits) <= 19:
        found.add(("card", normalise_card(v)))
    if re.fullmatch(r"[A-Za-z0-9_-]{3,40}", v):
        found.add(("id", normalise_id(v)))
    if re.fullmatch(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)+", v):  # "Lotte Brandt": a full name, however spelt
        found.add(("person", normalise_person(v)))
    return found
