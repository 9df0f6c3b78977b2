"""PII scrubbing: real personal data is replaced, ordinary numbers are not (both directions, plus properties)."""

import datetime as dt
import json
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.prepare.cleaning import clean_examples
from resources.prepare.pii import iban_valid, luhn_valid, scrub_pii
from resources.schema import EXAMPLE_COLUMNS, make_example


def untyped(text: str) -> str:
    """Placeholders without their number ("[EMAIL_2]" -> "[EMAIL]"), for tables that test detection alone."""
    return re.sub(r"\[([A-Z_]+?)_\d+\]", r"[\1]", text)


@pytest.mark.parametrize("text, expected, kind", [
    ("Mail me at jane.doe+orders@example.co.uk.", "Mail me at [EMAIL].", "email"),
    ("contact: J_Smith99@mail-server.de, thanks", "contact: [EMAIL], thanks", "email"),
    ("écrivez à zoë@exemple.fr", "écrivez à [EMAIL]", "email"),
    ("IBAN DE89 3704 0044 0532 0130 00 from my account", "IBAN [IBAN] from my account", "iban"),
    ("iban: de89370400440532013000 is mine", "iban: [IBAN] is mine", "iban"),
    ("pay to GB82 WEST 1234 5698 7654 32.", "pay to [IBAN].", "iban"),
    ("NL91ABNA0417164300", "[IBAN]", "iban"),
    ("FR14 2004 1010 0505 0001 3M02 606", "[IBAN]", "iban"),
    ("card 4111 1111 1111 1111 expires 12/27", "card [CARD] expires 12/27", "card"),
    ("Visa 4111-1111-1111-1111", "Visa [CARD]", "card"),
    ("MC 5500000000000004.", "MC [CARD].", "card"),
    ("Amex 3782 822463 10005", "Amex [CARD]", "card"),
    ("Amex 378282246310005", "Amex [CARD]", "card"),
    ("call +49 30 1234567 now", "call [PHONE] now", "phone"),
    ("+49 (0)30 1234567", "[PHONE]", "phone"),
    ("+44 20 7946 0958", "[PHONE]", "phone"),
    ("+1 (555) 123-4567", "[PHONE]", "phone"),
    ("+33612345678", "[PHONE]", "phone"),
    ("0049 30 1234567", "[PHONE]", "phone"),
    ("ring 030 1234567 or 030/1234567", "ring [PHONE] or [PHONE]", "phone"),
    ("(030) 123 456-78", "[PHONE]", "phone"),
    ("mobile 0151 23456789", "mobile [PHONE]", "phone"),
    ("Handy: 01512345678", "Handy: [PHONE]", "phone"),
    ("06 12 34 56 78", "[PHONE]", "phone"),
    ("(555) 123-4567", "[PHONE]", "phone"),
    ("555-123-4567", "[PHONE]", "phone"),
    ("Tel: 7654321", "Tel: [PHONE]", "phone"),
    ("Tel:0301234567", "Tel:[PHONE]", "phone"),
    ("phone number is 765 4321", "phone number is [PHONE]", "phone"),
    ("call me on 555 1234", "call me on [PHONE]", "phone"),
])
def test_personal_data_is_replaced(text, expected, kind):
    out, counts = scrub_pii(text)
    assert untyped(out) == expected
    assert counts[kind] == expected.count(f"[{kind.upper()}]") and sum(counts.values()) == counts[kind]


@pytest.mark.parametrize("text", [
    "Order A-10234 was shipped",
    "order #10234567 and invoice INV-2026-000123",
    "Invoice 00012345, ref 0012345",
    "qty 1500000 units, 12 boxes of 250",
    "Total: 1.299,00 EUR (was 1,299.00 USD)",
    "price €12.99, 3 x 4.50",
    "delivered on 2026-11-01 at 14:30",
    "due 01.02.2026 or 01-02-2026 or 01/02/2026 or 1 2 2026",
    "between 09:00-17:00, since 1999, in 2026",
    "10115 Berlin, SW1A 1AA London, 1012 AB Amsterdam, Boston MA 02134-1234",
    "card 4111 1111 1111 1112 is not valid",  # Luhn-invalid
    "ref 1234 5678 9012 3456",                # Luhn-invalid 16 digits
    "ref 1234567890123456",
    "tracking 0123 4567 8901 2345",           # 16 digits: too long for a phone, and not a card
    "id 0000000000000000",                    # Luhn-valid but no card issuer starts with 0
    "ip 192.168.0.100, version 1.20.3",
    "ISBN 978-3-16-148410-0",
    "account DE00 1234 5678 9012 3456 78",    # IBAN-shaped but fails mod-97
    "temperature -12.5, growth +4.5%, +12 points",
    "values 10 20 30 40 50 60 70 80",
    "if a < b then c@ d",
    "user@localhost has no domain",
])
def test_ordinary_numbers_are_left_alone(text):
    assert scrub_pii(text) == (text, {})


def test_mixed_message_counts_each_type():
    text = ("Hi, I'm Jane (jane@example.com, +49 151 2345 6789). Refund order A-10234 of 1.299,00 EUR from "
            "2026-11-01 to DE89 3704 0044 0532 0130 00, paid with 4111 1111 1111 1111.")
    out, counts = scrub_pii(text)
    assert out == ("Hi, I'm [PERSON_1] ([EMAIL_1], [PHONE_1]). Refund order A-10234 of 1.299,00 EUR from "
                   "2026-11-01 to [IBAN_1], paid with [CARD_1].")
    assert counts == {"person": 1, "email": 1, "phone": 1, "iban": 1, "card": 1}


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE88 3704 0044 0532 0130 00")
    assert not iban_valid("DE89 3704 0044 0532 0130 0")  # German IBANs are 22 characters


# --- properties -----------------------------------------------------------------------------------------------
_TOKENS = st.one_of(
    st.text(alphabet="abcXYZ é", min_size=1, max_size=6),
    st.from_regex(r"\d{1,6}", fullmatch=True),
    st.sampled_from([" ", "-", "+", "(", ")", "/", ".", ",", ":", "@", "0", "00", "+49 ", "Tel ", "DE89",
                     "4111 1111 1111 1111", "a@b.io", "\n", "[", "]", "(0)", "0151 ", "call "]),
)
_NUMBERISH = st.lists(_TOKENS, max_size=25).map("".join)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.one_of(_NUMBERISH, st.text(max_size=80)))
def test_scrubbing_is_idempotent(text):
    once, _ = scrub_pii(text)
    assert scrub_pii(once) == (once, {})


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd", "Lu", "Lt"), blacklist_characters="@"),
               max_size=200))
def test_text_without_digits_at_or_capitals_is_unchanged(text):
    """Every kind needs a digit, an "@" or a capitalised name; lower-case prose without them is never touched."""
    if any(c.isdigit() for c in text):  # a few non-Nd characters (superscripts) still count as digits
        return
    assert scrub_pii(text) == (text, {})


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@SETTINGS
@given(st.sampled_from("3456"), st.from_regex(r"[0-9]{14}", fullmatch=True), st.sampled_from(["", " ", "-"]))
def test_any_valid_card_is_found(first, middle, sep):
    number = _luhn_complete(first + middle)
    shown = sep.join(number[i:i + 4] for i in range(0, 16, 4))
    assert scrub_pii(f"paid with {shown}.") == ("paid with [CARD_1].", {"card": 1})


@SETTINGS
@given(st.from_regex(r"[0-9]{18}", fullmatch=True), st.booleans())
def test_any_valid_german_iban_is_found(bban, spaced):
    check = 98 - int("".join(str(int(c, 36)) for c in bban + "DE00")) % 97
    iban = f"DE{check:02d}{bban}"
    shown = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if spaced else iban
    assert scrub_pii(f"to {shown} please") == ("to [IBAN_1] please", {"iban": 1})


@SETTINGS
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
       st.sampled_from(["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m-%d-%Y", "%d %m %Y"]),
       st.integers(min_value=0, max_value=10_000_000), st.integers(min_value=0, max_value=99_999),
       st.sampled_from(["A-", "INV-", "#", "order "]))
def test_dates_prices_and_ids_survive(day, fmt, amount, ident, prefix):
    euros = f"{amount:,}".replace(",", ".") + f",{ident % 100:02d} EUR"
    text = f"On {day.strftime(fmt)} {prefix}{ident} cost {euros} at {ident % 24:02d}:{ident % 60:02d}"
    assert scrub_pii(text) == (text, {})


def test_tool_call_arguments_and_tool_results_are_scrubbed():
    call = {"id": "c1", "type": "function", "function": {"name": "send_mail", "arguments": {
        "to": "jane.doe@example.com", "retries": 3,
        "cc": [{"address": "bob@mail.example.org", "phone": "+49 30 1234567"}], "order": "A-1234"}}}
    msgs = [{"role": "user", "content": "Send the invoice."},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": '{"sent_to": "jane.doe@example.com"}', "tool_call_id": "c1"},
            {"role": "assistant", "content": "Sent."}]
    table = pd.DataFrame([make_example(source="teacher_synthetic", drop="d1", row=1, task="mail", messages=msgs)],
                         columns=list(EXAMPLE_COLUMNS))
    out, ledger, stats = clean_examples(table)
    cleaned = json.loads(out["messages"][0])
    # one conversation: the address in the call and in the tool's result is the same [EMAIL_1]
    scrubbed = {"to": "[EMAIL_1]", "retries": 3, "cc": [{"address": "[EMAIL_2]", "phone": "[PHONE_1]"}],
                "order": "A-1234"}
    assert cleaned[1]["tool_calls"] == [{**call, "function": {"name": "send_mail", "arguments": scrubbed}}]
    assert cleaned[2] == {"role": "tool", "content": '{"sent_to": "[EMAIL_1]"}', "tool_call_id": "c1"}
    assert {k: v for k, v in stats["pii"].items() if v} == {"email": 3, "phone": 1}
    assert list(ledger["state"]) == ["kept"]
    assert "@" not in out["messages"][0]

    unscrubbed, _, _ = clean_examples(table, pii=False)  # the switch covers tool calls too
    assert json.loads(unscrubbed["messages"][0])[1]["tool_calls"] == [call]
