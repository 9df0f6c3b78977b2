"""Length trimming in the base model's own tokens (the project's built-in tokenizer, no download)."""

import json

import pandas as pd
import pytest

from resources.prepare.trim import ELISION, length_histogram, token_length, trim_examples
from resources.schema import EXAMPLE_COLUMNS, make_example

MAX = 96


@pytest.fixture(scope="module")
def tok():
    from resources.model.tiny import build_tokenizer

    return build_tokenizer([])


def _ex(row, users, answer="The order A-1234 was shipped on Monday."):
    msgs = [{"role": "system", "content": "You answer customer questions."}]
    for u in users[:-1]:
        msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": "Noted."}]
    msgs += [{"role": "user", "content": users[-1]}, {"role": "assistant", "content": answer}]
    return make_example(source="corrected_outputs", drop="d1", row=row, task="support", messages=msgs)


LONG = " ".join(f"word{i} of the customer history about delivery and refund" for i in range(40))


@pytest.fixture(scope="module")
def table():
    return pd.DataFrame([
        _ex(1, ["Where is my order?"]),
        _ex(2, [f"Start of question. {LONG} End: where is order A-1234?"]),
        _ex(3, ["short"], answer=LONG),                            # the answer alone is over the limit
        _ex(4, ["first short turn", f"Second turn. {LONG} Final question?"]),
    ], columns=list(EXAMPLE_COLUMNS))


def _msgs(frame, id_):
    return json.loads(frame.set_index("id").loc[id_, "messages"])


def test_drop_mode_filters_long_rows(tok, table):
    out, ledger, stats = trim_examples(table, tok, MAX, mode="drop")
    assert list(out["id"]) == ["corrected_outputs/d1/1"]
    assert out.iloc[0]["messages"] == table.iloc[0]["messages"]  # kept rows are untouched
    states = dict(zip(ledger["id"], zip(ledger["state"], ledger["reason"])))
    assert states == {"corrected_outputs/d1/1": ("kept", ""), "corrected_outputs/d1/2": ("filtered", "too_long"),
                      "corrected_outputs/d1/3": ("filtered", "too_long"),
                      "corrected_outputs/d1/4": ("filtered", "too_long")}
    assert set(ledger["stage"]) == {"trim"} and stats["too_long"] == 3


@pytest.mark.parametrize("where", ["middle", "end"])
def test_truncate_cuts_only_the_longest_user_message(tok, table, where):
    out, ledger, stats = trim_examples(table, tok, MAX, mode="truncate", truncate_from=where)
    assert list(out["id"]) == ["corrected_outputs/d1/1", "corrected_outputs/d1/2", "corrected_outputs/d1/4"]
    for frame_id in out["id"]:
        msgs = _msgs(out, frame_id)
        assert token_length(tok, msgs) <= MAX
        original = _msgs(table, frame_id)
        # everything but user text is byte-identical; the reference answer is never touched
        assert [m for m in msgs if m["role"] != "user"] == [m for m in original if m["role"] != "user"]
        assert out.set_index("id").loc[frame_id, "reference"] == table.set_index("id").loc[frame_id, "reference"]

    cut = _msgs(out, "corrected_outputs/d1/2")[1]["content"]
    full = _msgs(table, "corrected_outputs/d1/2")[1]["content"]
    assert 0 < len(cut) < len(full) and cut.startswith("Start of question.")
    if where == "middle":
        head, tail = cut.split(ELISION)
        assert full.startswith(head) and full.endswith(tail) and tail.endswith("where is order A-1234?")
    else:
        assert full.startswith(cut) and ELISION not in cut

    # with two user turns, the short one stays and the long one is cut
    four = [m["content"] for m in _msgs(out, "corrected_outputs/d1/4") if m["role"] == "user"]
    assert four[0] == "first short turn" and len(four[1]) < len(LONG)

    bad = ledger[ledger["state"] == "filtered"]
    assert list(zip(bad["id"], bad["reason"])) == [("corrected_outputs/d1/3", "answer_too_long")]
    assert stats["truncated"] == 2 and stats["answer_too_long"] == 1 and stats["rows_out"] == 3
    assert stats["max_length_before"] > MAX >= stats["max_length_after"]


def test_histograms_count_every_row(tok, table):
    _, _, stats = trim_examples(table, tok, MAX, mode="truncate")
    before, after = stats["histogram_before"], stats["histogram_after"]
    assert sum(before["counts"]) == 4 and sum(after["counts"]) == 3
    assert before["edges"] == after["edges"] and len(before["counts"]) == len(before["labels"])
    over = before["edges"].index(MAX)  # buckets above the limit: empty after trimming
    assert sum(before["counts"][over:]) == 3 and sum(after["counts"][over:]) == 0


def test_histogram_buckets():
    h = length_histogram([0, 1, 64, 65, 512, 513, 5000], [0, 64, 512, 1024])
    assert h["counts"] == [3, 2, 1, 1] and h["labels"] == ["0-64", "65-512", "513-1024", ">1024"]


def test_unknown_mode_is_refused(tok, table):
    with pytest.raises(ValueError, match="trim mode"):
        trim_examples(table, tok, MAX, mode="squeeze")


# The default template as it was before tool support: it renders only ``content``, so tool calls vanish.
CONTENT_ONLY = ("{{ bos_token }}{%- for m in messages -%}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
                "{%- endfor -%}{%- if add_generation_prompt %}<|assistant|>\n{% endif -%}")
TOOL_USE = [{"role": "user", "content": "Where is A-1234?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "order_status",
                                                              "arguments": {"order_id": "A-1234"}}}]},
            {"role": "tool", "content": '{"status": "shipped"}', "tool_call_id": "c1"},
            {"role": "assistant", "content": "It has shipped."}]


def test_tool_use_is_filtered_only_where_the_template_cannot_render_it(tok):
    table = pd.DataFrame([_ex(1, ["Where is my order?"]),
                          make_example(source="teacher_synthetic", drop="d1", row=2, task="support",
                                       messages=TOOL_USE)], columns=list(EXAMPLE_COLUMNS))
    from resources.model.tiny import build_tokenizer

    dropping = build_tokenizer([])
    dropping.chat_template = CONTENT_ONLY

    out, ledger, stats = trim_examples(table, dropping, MAX, mode="truncate")
    assert list(out["id"]) == ["corrected_outputs/d1/1"]
    row = ledger.set_index("id").loc["teacher_synthetic/d1/2"]
    assert (row["state"], row["stage"]) == ("filtered", "trim")
    assert row["reason"].startswith("tools unsupported: ") and "drops tool calls" in row["reason"]
    assert len(ledger) == len(table) and stats["tools_unsupported"] == 1 and stats["rows_out"] == 1

    out, ledger, stats = trim_examples(table, tok, MAX, mode="truncate")  # the built-in template renders tools
    assert len(out) == 2 and set(ledger["state"]) == {"kept"} and stats["tools_unsupported"] == 0
    assert json.loads(out.set_index("id").loc["teacher_synthetic/d1/2", "messages"]) == TOOL_USE
