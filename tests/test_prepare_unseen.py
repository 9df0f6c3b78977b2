"""The unseen-products held-out set: which rows name a product, and whole clusters leaving train and eval."""

import unicodedata

import pandas as pd
import pytest

from resources.prepare.config import PrepareConfig
from resources.prepare.unseen import carve_unseen, rows_mentioning, term_matcher, unseen_clusters
from resources.schema import EXAMPLE_COLUMNS, make_example

TERMS = ["Tromsø desk lamp", "Hygge scented candle"]


def _ex(row, user, answer="Noted.", drop="d1"):
    return make_example(source="reviewed_interactions", drop=drop, row=row, task="extract_order",
                        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}])


def _frame(*examples):
    return pd.DataFrame(list(examples), columns=list(EXAMPLE_COLUMNS))


@pytest.mark.parametrize("text", [
    "My Tromsø desk lamp arrived broken.",
    "Two TROMSØ DESK LAMPS never arrived.",              # plural and upper case
    "the tromsø  desk\nlamp's switch is loose",         # any whitespace between words, possessive
    "three hygge scented candles",
    unicodedata.normalize("NFD", "Ein Hygge Scented Candle, bitte"),
])
def test_a_term_is_found_as_a_word_prefix_in_any_case_and_plural(text):
    assert term_matcher(TERMS)(text)


@pytest.mark.parametrize("text", [
    "My Tromso desk lamp arrived broken.",   # a different letter, not a spelling of ø
    "The Tromsø desk arrived without its lamp.",
    "XTromsø desk lamp",                     # the term must start where a word starts
    "Bergen ceramic table lamp",
])
def test_other_text_does_not_match(text):
    assert term_matcher(TERMS)(text) == []


def test_composed_and_decomposed_letters_match_either_way():
    nfd_term = unicodedata.normalize("NFD", "Göteborg floor cushion")
    assert term_matcher([nfd_term])("two GÖTEBORG floor cushions") == [nfd_term]
    assert term_matcher(["Göteborg floor cushion"])(unicodedata.normalize("NFD", "göteborg floor cushion"))


def test_a_term_in_the_reference_or_a_tool_call_counts():
    in_answer = _ex(1, "Extract the order.", answer='{"item": "Hygge scented candle", "quantity": 2}')
    tool = make_example(source="reviewed_interactions", drop="d1", row=2, task="tool_use", messages=[
        {"role": "user", "content": "Reorder it."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "reorder", "arguments": '{"item": "Tromsø desk lamp"}'}}]},
        {"role": "tool", "content": "ok"}, {"role": "assistant", "content": "Done."}])
    found = rows_mentioning(_frame(in_answer, tool, _ex(3, "Where is my mug?")), TERMS)
    assert found == [[in_answer["id"], "Hygge scented candle"], [tool["id"], "Tromsø desk lamp"]]


def test_whole_clusters_move_from_train_and_eval_and_the_rest_keeps_its_order():
    rows = [_ex(1, "Where is my order?"), _ex(2, "My Bergen lamp is late."), _ex(3, "A question about towels."),
            _ex(4, "Hygge scented candles, two of them."), _ex(5, "Refund please."), _ex(6, "Another one.")]
    ids = [r["id"] for r in rows]
    # 2 absorbed a near-duplicate (dropped by dedup, so only among the members) that names the lamp;
    # 5 and 6 form one cluster split by nothing but its id, and 4 names a candle
    absorbed = _ex(9, "My Tromsø desk lamp is late.")
    clusters = {**{i: i for i in ids}, absorbed["id"]: ids[1], ids[5]: ids[3]}
    unseen = unseen_clusters(_frame(*rows, absorbed), clusters, TERMS)
    assert unseen == {ids[1]: ["Tromsø desk lamp"], ids[3]: ["Hygge scented candle"]}
    train, held = _frame(rows[0], rows[1], rows[5]), _frame(rows[2], rows[3], rows[4])
    train2, held2, moved, stats = carve_unseen(train, held, clusters, unseen, TERMS)
    assert list(train2["id"]) == [ids[0]] and list(held2["id"]) == [ids[2], ids[4]]
    assert sorted(moved["id"]) == [ids[1], ids[3], ids[5]]
    assert stats["from_train"] == 2 and stats["from_eval"] == 1 and stats["clusters"] == 2
    assert stats["by_term"] == {"Tromsø desk lamp": 1, "Hygge scented candle": 2}


def test_a_blank_term_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="unseen_terms"):
        PrepareConfig(unseen_terms=["Tromsø desk lamp", " "]).check()
    assert PrepareConfig().unseen_terms == []


@pytest.mark.parametrize("profile", ["smollm2-cpu", "smollm2-gpu"])
def test_the_real_model_profiles_hold_out_two_sample_products(profile, repo_root):
    from pipelines.environment import build_resources, load_settings

    terms = build_resources(load_settings(str(repo_root / "profiles" / f"{profile}.yaml")))["prepare"].unseen_terms
    products = (repo_root / "data" / "generate_samples.py").read_text(encoding="utf-8")
    assert terms == TERMS and all(f'("{t}", "{t}s")' in products for t in terms)  # names the generator uses
