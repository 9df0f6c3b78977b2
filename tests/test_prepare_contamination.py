"""A benchmark or held-out item pasted into a longer training row is found by n-gram containment and removed."""

import json

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.dedup.resource import Deduplicator
from resources.prepare.accounting import account, merge_ledgers
from resources.prepare.decontaminate import decontaminate
from resources.schema import EXAMPLE_COLUMNS, make_example

from conftest import SHARED

# anatomy_test.csv line 2 of the MMLU test set (../shared/benchmarks/mmlu)
MMLU_ID = "anatomy_test/2"
MMLU_TEXT = "\n".join([
    "A lesion causing compression of the facial nerve at the stylomastoid foramen will cause ipsilateral",
    "paralysis of the facial muscles.", "paralysis of the facial muscles and loss of taste.",
    "paralysis of the facial muscles, loss of taste and lacrimation.",
    "paralysis of the facial muscles, loss of taste, lacrimation and decreased salivation."])
OTHER_ITEM = ("astronomy_test/7", "Why is Mars red?\nIron oxide\nCopper\nSulphur dust\nAlgae")
SUPPORT = [
    ("Hi, my order NH-{n} of two Malmö oak side tables arrived with a cracked leg. What can you do for me?",
     "I'm sorry about the damaged table. I have sent you a return label and a replacement is on its way."),
    ("Can I pay for order NH-{n} by invoice, and which of the following is cheaper: express or standard?",
     "We accept invoice for returning customers. Standard shipping is cheaper than express shipping."),
    ("According to the tracking page order NH-{n} is in the United States, but I live in Germany.",
     "That was a mistake of the carrier; the parcel is now on its way to Germany and arrives this week."),
]


def _ex(row, user, answer, drop="d1", source="reviewed_interactions"):
    return make_example(source=source, drop=drop, row=row, task="policy_qa",
                        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}])


def _frame(rows):
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))


def _train(extra):
    rows = [_ex(i + 1, q.format(n=100000 + i), a) for i, (q, a) in enumerate(SUPPORT * 4)]
    return _frame(rows + extra)


EVAL = _frame([_ex(1, "Where do I find the return label for order NH-555001 that I asked for last week?",
                   "The return label is attached to the confirmation e-mail we sent when you registered the return.",
                   drop="held", source="expert_annotations")])
EVAL_ID = "expert_annotations/held/1"


def test_benchmark_question_with_choices_in_a_long_conversation_is_removed():
    long_chat = ("I am revising for my anatomy exam tomorrow and my tutor gave me a practice sheet. There are a lot "
                 "of questions about cranial nerves and I keep mixing them up, so please explain it step by step. "
                 f"Here is the question:\n{MMLU_TEXT}\nI think the answer is the last one, but I am not sure at all.")
    train = _train([_ex(99, long_chat, "The answer is the first choice: only the facial muscles are paralysed.")])
    clean, _, ledger, stats = decontaminate(train, EVAL, [MMLU_TEXT], Deduplicator().near_pairs)
    assert "reviewed_interactions/d1/99" not in set(clean["id"])
    assert len(clean) == len(train) - 1
    reason = ledger.set_index("id").loc["reviewed_interactions/d1/99", "reason"]
    assert reason.startswith("contaminates_benchmark:") and "13-gram" in reason
    assert stats["remaining"] == []


def test_rows_sharing_only_common_phrases_are_kept():
    train = _train([])
    items = [(MMLU_ID, MMLU_TEXT), OTHER_ITEM]
    if (SHARED / "benchmarks" / "mmlu").is_dir():  # every real MMLU item: "which of the following", "according to"
        from resources.evaluation.benchmarks import load_multiple_choice

        items = [(it["id"], "\n".join([it["question"], *it["choices"]]))
                 for it in load_multiple_choice(SHARED / "benchmarks" / "mmlu")]
    clean, _, _, stats = decontaminate(train, EVAL, items, Deduplicator().near_pairs)
    assert len(clean) == len(train) and stats["contaminates_benchmark"] == 0 and stats["contaminates_eval"] == 0


def test_held_out_item_copied_into_a_training_row_is_removed_and_accounted_for():
    held = json.loads(EVAL.loc[0, "messages"])
    pasted = ("My colleague forwarded me this exchange from last week and I want to know whether it is still right, "
              f"because our policies changed in November:\n\n{held[0]['content']}\n{held[1]['content']}\n\n"
              "Please check and tell me what the current rule is, and whether I need to print anything.")
    train = _train([_ex(77, pasted, "Yes, that is still how returns work.")])
    clean, evals, ledger, stats = decontaminate(train, EVAL, [], Deduplicator().near_pairs)
    assert list(clean["id"]) == [i for i in train["id"] if i != "reviewed_interactions/d1/77"]
    row = ledger.set_index("id").loc["reviewed_interactions/d1/77"]
    assert row["state"] == "filtered" and row["stage"] == "decontaminate"
    assert row["reason"].startswith(f"contaminates_eval:{EVAL_ID} (")
    assert stats["eval_contaminated_by"] == {EVAL_ID: ["reviewed_interactions/d1/77"]}
    inputs = pd.concat([train, evals])[["id", "source", "drop"]]
    report = account(merge_ledgers(ledger), inputs)
    assert report.ok, report.problems
    assert int(report.table["filtered"].sum()) == 1 and int(report.table["kept"].sum()) == len(inputs) - 1


def test_stats_name_each_contaminated_item_and_the_rows_that_held_it():
    chat = f"Quiz time!\n{MMLU_TEXT}\nAnswer with a letter."
    train = _train([_ex(50, chat, "A"), _ex(51, "Second attempt. " + chat, "B")])
    _, _, _, stats = decontaminate(train, EVAL, [(MMLU_ID, MMLU_TEXT), OTHER_ITEM], Deduplicator().near_pairs)
    assert stats["benchmark_contaminated_by"] == {
        MMLU_ID: ["reviewed_interactions/d1/50", "reviewed_interactions/d1/51"]}
    assert stats["benchmark_items_contaminated"] == 1 and stats["contaminates_benchmark"] == 2


def test_templates_shared_with_held_out_rows_do_not_remove_training_rows():
    """Held-out rows of a templated task share long n-grams with many training rows; that is not a leak."""
    template = "Answer the customer's question about Nordlicht Home's policies, politely and in one sentence.\n\n{}"
    answer = "Gift cards cannot be refunded and are valid for 3 years from the date of purchase."
    questions = [f"Question number {n}: is my gift card from order NH-{70000 + n} still valid?" for n in range(20)]
    train = _frame([_ex(n + 1, template.format(q), answer) for n, q in enumerate(questions)])
    held = _frame([_ex(1, template.format("How long can I use a gift card I got for my birthday in May?"), answer,
                       drop="held")])
    clean, _, _, stats = decontaminate(train, held, [], lambda q, r: [])
    assert len(clean) == len(train), stats
    assert stats["eval_containment"]["template_ngrams"] > 0


_PUNCT = st.sampled_from(list(".,;:!?\"'()[]-/*"))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_case_and_punctuation_edits_still_match(data):
    from resources.prepare.containment import ContainmentIndex, normalise_words

    words = MMLU_TEXT.split()
    edited = []
    for word in words:
        if data.draw(st.booleans(), "upper"):
            word = word.upper()
        if data.draw(st.booleans(), "punct"):
            cut = data.draw(st.integers(0, len(word)), "where")
            word = word[:cut] + data.draw(_PUNCT, "mark") + word[cut:]
        edited.append(word)
    sep = data.draw(st.sampled_from([" ", "  ", "\n", "\t ", " - "]), "sep")
    row = "Some unrelated preamble about my homework. " + sep.join(edited) + " Thanks a lot!"
    assert normalise_words(sep.join(edited)) == normalise_words(MMLU_TEXT)
    matches = ContainmentIndex([MMLU_TEXT, OTHER_ITEM[1]]).matches([row, "nothing to see here at all"])
    assert [(m.row, m.item, m.long_gram) for m in matches] == [(0, 0, True)]


def test_short_item_is_found_by_its_8_grams_and_very_short_items_by_nothing():
    from resources.prepare.containment import ContainmentIndex

    short = "Which gas do plants take in for photosynthesis mostly"  # 9 words: no 13-gram
    index = ContainmentIndex([short, "Yes or no"])
    found = index.matches(["In class we asked: which gas do plants take in for photosynthesis mostly? Carbon dioxide.",
                           "Plants take in light, and which gas do plants breathe out?"])
    assert [(m.row, m.item, m.long_gram, m.coverage) for m in found] == [(0, 0, False, 1.0)]
    assert index.stats()["items_without_evidence"] == 1


def test_light_edits_leave_a_13_gram_and_heavy_edits_do_not():
    from resources.prepare.containment import ContainmentIndex

    words = " ".join([MMLU_TEXT.replace("\n", " ")] * 2).split()  # 2 x 46 words, so edits can be spaced out

    def edit(every):
        return " ".join("really" if i % every == every - 1 else w for i, w in enumerate(words))

    index = ContainmentIndex([" ".join(words)])
    assert [m.long_gram for m in index.matches([edit(14)])] == [True]
    assert index.matches([edit(5)]) == []  # one word in five replaced: no 13-gram, no 8-gram survives
