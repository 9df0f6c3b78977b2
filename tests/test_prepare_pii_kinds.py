"""PII beyond e-mail/phone/IBAN/card: names, addresses, national ids, IPs, account ids, birth dates; placeholders
consistent within a conversation; every text field scrubbed; measured on the Faker corpus of benchmarks/pii.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from resources.prepare.cleaning import clean_examples
from resources.prepare.pii import scrub_pii
from resources.prepare.pii_patterns import nir_valid
from resources.prepare.scrubber import Conversation
from resources.schema import EXAMPLE_COLUMNS, make_example

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.parametrize("text, expected", [
    ("Hi, this is Élodie Martin. My order NH-772898 is late.", "Hi, this is [PERSON_1]. My order NH-772898 is late."),
    ("Hallo Herr Schmidt, ich bin Kunde seit 2010.", "Hallo Herr [PERSON_1], ich bin Kunde seit 2010."),
    ("Bonjour, je m'appelle Camille Dubois.", "Bonjour, je m'appelle [PERSON_1]."),
    ("Mit freundlichen Grüßen\nHans-Jürgen von der Heide", "Mit freundlichen Grüßen\n[PERSON_1]"),
    ("I spoke to Lisa Meyer yesterday", "I spoke to [PERSON_1] yesterday"),
    ("Bitte an Hauptstraße 12, 10115 Berlin liefern.", "Bitte an [ADDRESS_1] liefern."),
    ("Livrez au 12, rue de la Paix, 75002 Paris.", "Livrez au [ADDRESS_1]."),
    ("Ship to 221 Baker Street, London NW1 6XE please", "Ship to [ADDRESS_1] please"),
    ("Steuer-ID 86 095 742 719", "Steuer-ID [ID_1]"),
    ("DNI 12345678Z, codice fiscale RSSMRA85T10A562S", "DNI [ID_1], codice fiscale [ID_2]"),
    ("Passport number: C01X00T47", "Passport number: [ID_1]"),
    ("logins from 8.8.8.8 and 2001:4860:4860::8888", "logins from [IP_1] and [IP_2]"),
    ("Kundennummer: KD-4471123", "Kundennummer: [ACCOUNT_1]"),
    ("geboren am 12.03.1985", "geboren am [BIRTH_DATE_1]"),
    ("mail ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ or ＋４９ ３０ １２３４５６７", "mail [EMAIL_1] or [PHONE_1]"),
    ("Handy 0170.555.0003", "Handy [PHONE_1]"),
])
def test_each_kind_is_replaced(text, expected):
    assert scrub_pii(text)[0] == expected


@pytest.mark.parametrize("text", [
    "I ordered 2 Bergen wool blankets and a Malmö side table, answer in German or French.",
    "Die Art der Lieferung: Paket. Will you send it in May?",
    "ip 192.168.0.100 and 10.0.0.1 are the office routers",   # private ranges identify nobody
    "Our store at 10115 Berlin opens on Monday.",             # postcode and city alone
    "Steuer-ID 86095742718, NIR 185057800608492",             # checksums fail
    "Im Januar 2026 kamen 3 Pakete. Am Montag 3 weitere, Der Park 3 ist zu, in Nürnberg 3 Tage.",
    "We have 3 Oak Park tables in stock, see Section 3.",
])
def test_look_alikes_stay(text):
    assert scrub_pii(text) == (text, {})


def test_nir_key():
    body = "1850578006084"
    assert nir_valid(f"{body}{97 - int(body) % 97:02d}") and not nir_valid(f"{body}00")


def test_a_person_keeps_one_placeholder_across_turns():
    conv = Conversation()
    turns = ["Customer: Hi, this is Élodie Martin, elodie@example.fr.",
             "Agent: Sorry to hear that, Élodie. Mrs Martin, is elodie@example.fr still right?",
             "Customer: Yes. My colleague Jonas Weber will pick it up."]
    for t in turns:
        conv.learn(t)
    out = [conv.scrub(t) for t in turns]
    assert out == ["Customer: Hi, this is [PERSON_1], [EMAIL_1].",
                   "Agent: Sorry to hear that, [PERSON_1]. Mrs [PERSON_1], is [EMAIL_1] still right?",
                   "Customer: Yes. My colleague [PERSON_2] will pick it up."]
    assert conv.counts == {"person": 4, "email": 2}


def test_every_text_field_is_scrubbed():
    """task, the timestamp and extra columns are scrubbed like messages; ids and provenance columns are not."""
    msgs = [{"role": "user", "content": "Where is my parcel? Kind regards, Lotte Brandt"},
            {"role": "assistant", "content": "On its way, Lotte."}]
    row = make_example(source="reviewed_interactions", drop="d1", row=1, task="ask lotte@example.de",
                       messages=msgs, created_at="call +49 30 9876543")
    table = pd.DataFrame([{**row, "note": "IBAN DE02 1009 0000 2718 2818 28"}],
                         columns=list(EXAMPLE_COLUMNS) + ["note"])
    out, ledger, stats = clean_examples(table)
    rec = out.iloc[0].to_dict()
    assert list(ledger["reason"]) == ["pii replaced: person=2, email=1, phone=1, iban=1"]  # counts, no values
    assert rec["task"] == "ask [EMAIL_1]" and rec["created_at"] == "call [PHONE_1]" and rec["note"] == "IBAN [IBAN_1]"
    assert json.loads(rec["messages"])[1]["content"] == rec["reference"] == "On its way, [PERSON_1]."
    assert rec["id"] == row["id"] and rec["drop"] == "d1"
    assert {k: v for k, v in stats["pii"].items() if v} == {"person": 2, "email": 1, "phone": 1, "iban": 1}


def test_a_quoted_reason_is_scrubbed_before_it_is_cut():
    from resources.sources.rules import interaction

    out = interaction({"verdict": "rejected because verdict.person@example.com said so", "task": "x"})
    assert out.reason == "not approved: verdict=rejected because [EMAIL_1] said so"  # cut first, it leaked


def test_the_subject_index_finds_a_person_by_name():
    from resources.provenance.subject_values import extract_text, query_values

    assert ("person", "lotte brandt") in extract_text("Where is it? Kind regards, Lotte Brandt")
    assert query_values("LOTTE  Brandt") & set(extract_text("Grüße, Lotte Brandt"))
    assert query_values("Élodie Martin") == query_values("elodie martin")


def test_benchmark_goals_on_a_fresh_faker_corpus():
    """The benchmark's goals on a corpus the detectors were not tuned on (seed 7): recall >= 0.95 for names and
    addresses and >= 0.99 for every other kind, precision >= 0.9 for all."""
    from pii import GOALS, score
    from pii_corpus import corpus

    kinds = score(corpus(2000, seed=7))  # large enough that one miss among the rarer kinds is not 1 %
    assert set(kinds) >= {"person", "address", "email", "phone", "iban", "card", "national_id", "ip", "account",
                          "birth_date"}
    for kind, k in kinds.items():
        assert k["recall"] >= GOALS.get(kind, 0.99) and k["precision"] >= 0.9, (kind, k)


def test_scrubbing_the_corpus_twice_changes_nothing():
    """Placeholders are never read as personal data: a second pass over scrubbed text finds nothing."""
    from pii_corpus import corpus

    for row in corpus(300, seed=3):
        once, _ = scrub_pii(row.text)
        assert scrub_pii(once) == (once, {}), once
