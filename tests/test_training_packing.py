"""Chat tokenisation and packing: packed documents are computed exactly as if each ran alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.model.chat_template import DEFAULT_CHAT_TEMPLATE
from resources.training.chat_tokens import IGNORE, TokenizedChat, tokenize_chat, truncate
from resources.training.packing import collate, n_targets, one_per_row, pack


def chat(i: int) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": "You are a support agent. Answer briefly."}] if i % 2 else []
    msgs += [{"role": "user", "content": f"Where is order A-{1000 + i}? " + "please help " * (i % 5)},
             {"role": "assistant", "content": f"Order A-{1000 + i} was shipped {i} days ago."}]
    if i % 3 == 0:
        msgs += [{"role": "user", "content": "And the refund?"},
                 {"role": "assistant", "content": f"The refund of {i * 7} will arrive in {i % 9 + 1} days."}]
    return msgs


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from resources.model.loading import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def docs(tokenizer):
    return [tokenize_chat(tokenizer, chat(i), 256) for i in range(12)]


# --- chat tokens ---------------------------------------------------------------------------------------------

def test_labels_cover_exactly_the_assistant_turns(tokenizer):
    doc = tokenize_chat(tokenizer, chat(3), 256)
    targets = tokenizer.decode([t for t in doc.labels if t != IGNORE])
    assert targets == "Order A-1003 was shipped 3 days ago.<|end|>The refund of 21 will arrive in 4 days.<|end|>"
    assert len(doc.input_ids) == len(doc.labels) and doc.labels[0] == IGNORE


def test_templates_without_generation_markers_give_the_same_labels(tokenizer):
    plain = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    plain.chat_template = DEFAULT_CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    for i in range(6):
        marked, prefixed = tokenize_chat(tokenizer, chat(i), 256), tokenize_chat(plain, chat(i), 256)
        assert prefixed.input_ids == marked.input_ids
        marked_at = {k for k, t in enumerate(marked.labels) if t != IGNORE}
        prefixed_at = {k for k, t in enumerate(prefixed.labels) if t != IGNORE}
        assert marked_at <= prefixed_at
        # the prefix method also trains on what the model must emit after the generation prompt and before the
        # answer (here the newline after <|assistant|>); nothing else may differ
        extra = [prefixed.input_ids[k] for k in sorted(prefixed_at - marked_at)]
        assert tokenizer.decode(extra).strip() == ""


def test_truncation_keeps_the_answer():
    ids = list(range(100))
    labels = [IGNORE] * 80 + list(range(80, 100))
    cut = truncate(TokenizedChat(ids, labels), 50)
    assert cut.truncated and len(cut) == 50 and cut.input_ids[-20:] == list(range(80, 100))
    assert cut.labels[-20:] == list(range(80, 100))  # every answer token still trained on
    # an answer longer than the window: a quarter of prompt context, then the start of the answer
    long = truncate(TokenizedChat(ids, [IGNORE] * 20 + ids[20:]), 40)
    assert long.input_ids[:10] == list(range(10, 20)) and long.labels[10] == 20 and len(long) == 40
    assert truncate(TokenizedChat(ids[:10], labels[:10]), 50).truncated is False


# --- packing invariants --------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40), st.integers(64, 200))
def test_packing_places_every_document_once_within_bounds(lengths, max_len):
    docs = [TokenizedChat(list(range(n)), [IGNORE] + [7] * (n - 1)) for n in lengths]
    rows = pack(docs, max_len)
    assert sorted(n for r in rows for n in r.doc_lengths) == sorted(lengths)
    assert all(len(r) <= max_len for r in rows)
    for r in rows:
        starts = [sum(r.doc_lengths[:k]) for k in range(len(r.doc_lengths))]
        assert [r.position_ids[s] for s in starts] == [0] * len(starts)  # positions restart per document
        assert all(r.labels[s] == IGNORE for s in starts)  # no loss across a boundary
    # best-fit decreasing: never more rows than one per document, and no two rows that could have been merged
    sizes = sorted(len(r) for r in rows)
    assert len(sizes) < 2 or sizes[0] + sizes[1] > max_len
    assert pack(docs, max_len) == rows  # deterministic


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=2, max_value=60), min_size=1, max_size=12), st.integers(0, 90))
def test_padding_to_a_fixed_width_adds_nothing_to_learn(lengths, width):
    """FlexAttention's rows all get one width: the padding is one more document, no target, seen by no one."""
    docs = [TokenizedChat(list(range(1, n + 1)), [IGNORE] + [7] * (n - 1)) for n in lengths]
    rows = pack(docs, 64)
    plain, fixed = collate(rows, 0), collate(rows, 0, width)
    longest = max(len(r) for r in rows)
    assert fixed["input_ids"].shape == (len(rows), max(longest, width))
    assert n_targets(fixed) == n_targets(plain)
    for key in plain:
        assert fixed[key][:, :longest].tolist() == plain[key].tolist()
    for r, row in enumerate(rows):  # the pad restarts its positions: a document of its own
        assert fixed["position_ids"][r, len(row):].tolist() == list(range(fixed["input_ids"].shape[1] - len(row)))


def test_packing_refuses_an_oversized_document():
    with pytest.raises(ValueError, match="more than max_seq_len=8"):
        pack([TokenizedChat(list(range(9)), [1] * 9)], 8)


# --- packed == unpacked on the real model ---------------------------------------------------------------------

def _per_document_outputs(model, docs):
    import torch

    logits, loss_sum, count = [], 0.0, 0
    for d in docs:
        with torch.no_grad():
            out = model(input_ids=torch.tensor([d.input_ids]), use_cache=False)
        lab = torch.tensor(d.labels[1:])
        loss_sum += torch.nn.functional.cross_entropy(out.logits[0, :-1], lab, ignore_index=IGNORE,
                                                      reduction="sum").item()
        count += int((lab != IGNORE).sum())
        logits.append(out.logits[0])
    return logits, loss_sum / count


def _packed_outputs(model, rows, pad_id, restart_positions=True):
    import torch

    batch = collate(rows, pad_id)
    if not restart_positions:  # the naive packing every trainer gets wrong: one long document per row
        batch["position_ids"] = torch.arange(batch["input_ids"].shape[1]).expand_as(batch["input_ids"])
    with torch.no_grad():
        out = model(**batch, use_cache=False, num_items_in_batch=n_targets(batch))
    logits = []  # per document, in packing order
    for r, row in enumerate(rows):
        start = 0
        for n in row.doc_lengths:
            logits.append(out.logits[r, start:start + n])
            start += n
    return logits, out.loss.item()


@pytest.mark.slow
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_loss_and_logits_equal_unpacked(tiny_model_dir, tokenizer, docs, attn):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32,
                                                 attn_implementation=attn).eval()
    rows = pack(docs, 256)
    assert len(rows) < len(docs) and max(len(r.doc_lengths) for r in rows) >= 3  # really packed
    packed_order = sorted(range(len(docs)), key=lambda i: (-len(docs[i]), i))  # pack()'s placement order
    by_row = [i for row in rows for i in _doc_indices(row, docs, packed_order)]

    ref_logits, ref_loss = _per_document_outputs(model, docs)
    logits, loss = _packed_outputs(model, rows, tokenizer.pad_token_id)
    assert abs(loss - ref_loss) / ref_loss < 1e-4
    for got, i in zip(logits, by_row):
        torch.testing.assert_close(got, ref_logits[i], atol=1e-4, rtol=1e-4)

    # control: without restarting positions, documents attend to each other and the numbers move
    naive_logits, naive_loss = _packed_outputs(model, rows, tokenizer.pad_token_id, restart_positions=False)
    # (a random-weight model barely cares about position, so the loss moves little; the logits move a lot)
    assert abs(naive_loss - ref_loss) / ref_loss > 1e-4
    worst = max((got - ref_logits[i]).abs().max().item() for got, i in zip(naive_logits, by_row))
    print("naive packing: loss off by", abs(naive_loss - ref_loss) / ref_loss, "max logit error", worst)
    assert worst > 1e-2
    # unpacked rows (padding only) go through the same path and agree as well
    _, padded_loss = _packed_outputs(model, one_per_row(docs), tokenizer.pad_token_id)
    assert abs(padded_loss - ref_loss) / ref_loss < 1e-4


def _doc_indices(row, docs, order):
    """Which documents a row holds, recovered by matching tokens (pack() does not record indices)."""
    out, start = [], 0
    for n in row.doc_lengths:
        ids = row.input_ids[start:start + n]
        out.append(next(i for i in order if docs[i].input_ids == ids))
        start += n
    return out


@pytest.mark.parametrize("packing", [True, False])
def test_step_token_counts_without_building_batches_match_the_built_ones(docs, packing):
    """The loop normalises the loss by counts it takes from BatchStream.sizes (no batch built, no collective)."""
    from resources.training.dataset import BatchStream

    stream = BatchStream(docs, max_seq_len=256, micro_batch_size=3, packing=packing, seed=1, pad_id=0)
    for g in range(2 * stream.per_epoch + 1):  # across epoch boundaries
        batch, real = stream.micro_batch(g)
        assert stream.sizes(g) == (real, n_targets(batch))
    stream.width = 256  # what the loop sets under FlexAttention
    assert {stream.micro_batch(g)[0]["input_ids"].shape[1] for g in range(stream.per_epoch)} == {256}
