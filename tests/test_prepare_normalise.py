"""Normalisation of single texts, and cleaning of whole example tables (normalise + PII + empty answers)."""

import json

import pandas as pd
import pytest

from resources.prepare.cleaning import clean_examples
from resources.prepare.config import PrepareConfig
from resources.prepare.normalise import NormaliseConfig, normalise_text
from resources.schema import EXAMPLE_COLUMNS, LEDGER_COLUMNS, make_example

OFF = NormaliseConfig(unicode_form=None, fix_mojibake=False, strip_html=False, normalise_whitespace=False)


@pytest.mark.parametrize("raw, expected, key", [
    ("Cafe\u0301 de\u0301ja\u0300 vu", "Café déjà vu", "unicode"),
    ("CafÃ© dÃ©jÃ  vu â€” Ã¼ber", "Café déjà vu — über", "mojibake"),
    ("<p>Hello&nbsp;<b>world</b></p><p>Second<br>line</p>", "Hello\u00a0world\n\nSecond\nline", "html"),
    ("a  b\r\n\r\n\r\n\r\nc\t\td   ", "a b\n\nc d", "whitespace"),
])
def test_each_step_fixes_its_damage_and_is_counted(raw, expected, key):
    cfg = NormaliseConfig(unicode_form="NFC" if key == "unicode" else None, fix_mojibake=key == "mojibake",
                          strip_html=key == "html", normalise_whitespace=key == "whitespace")
    out, changes = normalise_text(raw, cfg)
    assert out == expected
    assert changes == {key: 1}


def test_all_steps_together_on_a_realistic_support_message():
    raw = ("<div>Hi,<br>my order A-10234 didnâ€™t arrive.&nbsp; </div>\r\n\r\n\r\n"
           "<p>Could you   check?</p>")
    out, changes = normalise_text(raw)
    assert out == "Hi,\nmy order A-10234 didn’t arrive.\n\nCould you check?"
    assert set(changes) == {"mojibake", "html", "whitespace"}


def test_switched_off_steps_change_nothing():
    raw = "CafÃ©  <b>x</b>\r\n e\u0301"
    assert normalise_text(raw, OFF) == (raw, {})


@pytest.mark.parametrize("text", [
    "if a<b and c>d then swap",               # comparisons are not tags
    "Dear <customer name>, thanks",           # template placeholders are not tags
    "https://shop.example/?a=1&param=2",      # '&para' without ';' is not an entity
    '{"order_id": "A-1234", "quantity": 2}',  # JSON answers keep their shape
    "def f():\n    return 1",                 # indentation survives
    "“curly quotes” and ﬁ ligature stay",     # style is content, not damage
])
def test_clean_text_is_left_alone(text):
    assert normalise_text(text) == (text, {})


def test_unicode_form_is_configurable_and_validated():
    assert normalise_text("ﬁ ①", NormaliseConfig(unicode_form="NFKC"))[0] == "fi 1"
    assert normalise_text("ﬁ ①", NormaliseConfig(unicode_form="NFC"))[0] == "ﬁ ①"
    with pytest.raises(ValueError, match="unicode_form"):
        NormaliseConfig(unicode_form="NFX")


def test_normalising_twice_changes_nothing():
    raw = "<p>CafÃ©&amp;Bar</p>\r\n\r\n\r\n  two   spaces "
    once, _ = normalise_text(raw)
    assert normalise_text(once) == (once, {})


def _table(rows):
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))


def _ex(row, user, answer, task="support"):
    return make_example(source="reviewed_interactions", drop="2026-11", row=row, task=task,
                        messages=[{"role": "system", "content": "You are helpful."},
                                  {"role": "user", "content": user}, {"role": "assistant", "content": answer}])


def test_clean_examples_scrubs_normalises_and_filters_empty_answers():
    table = _table([
        _ex(1, "Mail me at jane.doe@example.com about A-10234", "<p>Done,&nbsp;shipped.</p>"),
        _ex(2, "CafÃ© order 2026-11-01, call +49 30 1234567", "Your   order is on its way."),
        _ex(3, "Hello?", "<br><p>  </p>"),    # markup only: nothing left to learn
        _ex(4, "Plain question", "Plain answer"),
    ])
    out, ledger, stats = clean_examples(table, PrepareConfig())
    assert list(out.columns) == list(EXAMPLE_COLUMNS)
    assert list(out["id"]) == ["reviewed_interactions/2026-11/1", "reviewed_interactions/2026-11/2",
                               "reviewed_interactions/2026-11/4"]
    first = json.loads(out.iloc[0]["messages"])
    assert first[1]["content"] == "Mail me at [EMAIL_1] about A-10234"
    assert first[2]["content"] == out.iloc[0]["reference"] == "Done, shipped."  # NBSP became a space
    second = json.loads(out.iloc[1]["messages"])
    assert second[1]["content"] == "Café order 2026-11-01, call [PHONE_1]"
    assert out.iloc[1]["reference"] == "Your order is on its way."
    assert out.iloc[2]["messages"] == table.iloc[3]["messages"]

    assert list(ledger.columns) == list(LEDGER_COLUMNS)
    assert len(ledger) == 4 and ledger["id"].is_unique
    bad = ledger[ledger["state"] == "filtered"]
    assert list(bad["id"]) == ["reviewed_interactions/2026-11/3"]
    assert list(bad["reason"]) == ["empty_answer"] and list(bad["stage"]) == ["normalise"]
    assert {k: v for k, v in stats["pii"].items() if v} == {"email": 1, "phone": 1}
    # answer 1 (html+ws, counted once although it is also the reference), answer 3, user 2 (mojibake), answer 2 (ws)
    assert stats["normalise"]["mojibake"] == 1
    assert stats["normalise"]["html"] == 2
    assert stats["normalise"]["whitespace"] == 3
    assert stats["rows_in"] == 4 and stats["rows_out"] == 3 and stats["empty_answer"] == 1


def test_clean_examples_respects_switches():
    table = _table([_ex(1, "write to a@b.org", "  <b>ok</b>  ")])
    out, _, stats = clean_examples(table, PrepareConfig(pii=False, strip_html=False))
    msgs = json.loads(out.iloc[0]["messages"])
    assert msgs[1]["content"] == "write to a@b.org" and msgs[2]["content"] == "<b>ok</b>"
    assert stats["pii"]["email"] == 0 and stats["normalise"]["html"] == 0


def test_clean_examples_names_the_broken_row():
    table = _table([{**_ex(7, "q", "a"), "messages": "{not json"}])
    with pytest.raises(ValueError, match="reviewed_interactions/2026-11/7"):
        clean_examples(table)
