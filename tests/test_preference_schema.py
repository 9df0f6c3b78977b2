"""The pair parser: whatever a reader hands it, it answers with "" for a usable pair or a reason, never raises;
and a rating sheet's prompt text parses back to the messages it was printed from."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.evaluation.engine import prompt_text
from resources.preference.schema import pair_problem, parse_prompt_text

SETTINGS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
text = st.text(max_size=20)
anything = st.none() | st.integers() | st.booleans() | text | st.lists(text, max_size=2)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "bot", 3]),
                                 "content": st.one_of(text, anything)})
prompt = st.one_of(anything, st.lists(st.one_of(message, anything), max_size=4))


def usable(p, chosen, rejected) -> bool:
    """The definition, written out independently of the parser."""
    return (isinstance(p, list) and len(p) > 0
            and all(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant", "tool")
                    and isinstance(m.get("content"), str) for m in p)
            and p[-1]["role"] == "user" and all(m["content"].strip() for m in p if m["role"] == "user")
            and isinstance(chosen, str) and isinstance(rejected, str) and chosen.strip() != ""
            and rejected.strip() != "" and chosen.strip() != rejected.strip()
            and not any("\0" in t or any(0xD800 <= ord(c) <= 0xDFFF for c in t)
                        for t in [chosen, rejected, *(m["content"] for m in p)]))


@SETTINGS
@given(prompt, st.one_of(text, anything), st.one_of(text, anything))
def test_pair_problem_accepts_exactly_the_usable_pairs(p, chosen, rejected):
    why = pair_problem(p, chosen, rejected)
    assert isinstance(why, str)
    assert (why == "") == usable(p, chosen, rejected)
    if why:
        category = why.split(":")[0]
        assert category in {"missing prompt", "empty chosen", "empty rejected", "wrong type", "chosen equals rejected",
                            "invalid characters"}


def test_each_kind_of_bad_pair_says_why():
    user = [{"role": "user", "content": "Where is my order?"}]
    assert pair_problem(user, "Shipped.", " Shipped.\n").startswith("chosen equals rejected")
    assert pair_problem(user, "", "Lost.").startswith("empty chosen")
    assert pair_problem(user, "Shipped.", None).startswith("empty rejected")
    assert pair_problem([], "Shipped.", "Lost.").startswith("missing prompt")
    assert pair_problem(None, "Shipped.", "Lost.").startswith("missing prompt")
    assert "ends with a assistant turn" in pair_problem(user + [{"role": "assistant", "content": "Hi"}], "a", "b")
    assert pair_problem(user, "Shipped.", "Lost.") == ""


line = st.text(st.characters(blacklist_characters="\r"), max_size=15).filter(lambda t: "\n\n[" not in t)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant", "tool"]), line), min_size=1, max_size=4))
def test_sheet_prompt_text_parses_back(turns):
    messages = [{"role": r, "content": c} for r, c in turns]
    assert parse_prompt_text(prompt_text(messages)) == messages


def test_text_not_in_sheet_form_parses_to_nothing():
    assert parse_prompt_text("just a question") == [] and parse_prompt_text(None) == []
