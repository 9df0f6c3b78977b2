"""The promotion gate compares candidate and promoted version on the current held-out set, on the tiny model.

The promoted version is real (a trained adapter and its merged model); its number in the manifest was measured
on an older held-out set. The candidates' numbers are recorded facts, as the fast registry tests use them.
"""

from __future__ import annotations

import json

import pytest

from resources.publishing.card import write_model_card
from resources.publishing.held_out import CurrentHeldOut
from resources.publishing.publisher import Publisher
from resources.schema import make_example

pytestmark = pytest.mark.slow

BASE_VERSION = "tiny-base-1"
QA = [("How many days do I have to return an item?", "You have 30 days to return an item."),
      ("Do you ship to other countries?", "Yes, we ship to most countries."),
      ("Where is my invoice?", "Your invoice is in your account under orders."),
      ("Can I change my delivery address?", "Yes, you can change the address before the order ships."),
      ("How do I get a refund?", "Send the item back and the refund follows within five days."),
      ("What is the price of shipping?", "Shipping is free for orders over fifty."),
      ("Can I pay by invoice?", "Yes, you can pay by invoice after your first order.")]


def _examples():
    return [make_example(source="expert_annotations", drop="d1", row=i, task="policy_qa", messages=[
        {"role": "user", "content": q}, {"role": "assistant", "content": a}]) for i, (q, a) in enumerate(QA)]


def _train(base, examples, out, steps):
    """LoRA on every linear layer (lm_head included: the random tiny model learns answers fast only there)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.evaluation.heldout_loss import reference_span
    from resources.model.loading import load_causal_lm, load_tokenizer

    tok = load_tokenizer(base)
    linear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
    model = get_peft_model(load_causal_lm(base, device="cpu", dtype=torch.float32),
                           LoraConfig(r=8, lora_alpha=16, target_modules=linear, task_type="CAUSAL_LM"))
    spans = [reference_span(tok, e) for e in examples]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    torch.manual_seed(0)
    model.train()
    width = max(len(ids) for ids, _ in spans)
    ids_t = torch.full((len(spans), width), tok.pad_token_id)
    labels, mask = torch.full_like(ids_t, -100), torch.zeros_like(ids_t)
    for r, (ids, start) in enumerate(spans):
        ids_t[r, :len(ids)], mask[r, :len(ids)] = torch.tensor(ids), 1
        labels[r, start:len(ids)] = torch.tensor(ids[start:])
    for _ in range(steps):  # loss on the answer tokens only
        model(input_ids=ids_t, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.save_pretrained(out / "adapter", save_embedding_layers=False)
    model.merge_and_unload().save_pretrained(out / "merged")
    tok.save_pretrained(out / "merged")


def _card(folder, value, held_out, base_version=BASE_VERSION, zero_shot=0.0):
    write_model_card(folder, {
        "base_model": {"data_version": base_version},
        "evaluation": {"primary_metric": "token_f1", "higher_is_better": True, "primary_value": value,
                       "baselines": {"zero_shot": {"token_f1": zero_shot}}, "held_out": held_out},
        "forgetting": {"flag": False}, "leakage": {"count": 0}, "merge": {"verified": True}})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A registry whose promoted version was measured on an older held-out set than today's."""
    import pandas as pd
    import torch

    from resources.evaluation.evaluator import Evaluator
    from resources.layout import Layout
    from resources.model.tiny import build_tiny_model
    from resources.schema import example_text
    from resources.storage import write_parquet

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices gain nothing from threads and lose a lot on shared cores
    root = tmp_path_factory.mktemp("held_out")
    examples = _examples()
    base = build_tiny_model(root / "base", [example_text(e) for e in examples])
    write_parquet(root / "eval.parquet", pd.DataFrame(examples))  # today's held-out set
    layout = Layout(root / "artifacts")
    held_out = CurrentHeldOut(Evaluator(max_new_tokens=16), root / "eval.parquet", base, BASE_VERSION,
                              scores_dir=lambda v: layout.version_scores("m", v))
    old_set = {**held_out.key, "data_version": "an-older-held-out-set"}

    pub = Publisher(model_name="m")
    reg = pub.registry(layout.root / "registry")

    def build(folder):
        _train(base, examples, folder, steps=40)
        # The promoted version recorded a low score on the old set; what it scores today is unknown until measured.
        _card(folder, 0.01, old_set)

    incumbent = reg.version_for({"run": "incumbent"})
    reg.publish(incumbent, build)
    reg.promote(incumbent, "promoted when the old held-out set was current")
    yield {"pub": pub, "reg": reg, "layout": layout, "held_out": held_out, "incumbent": incumbent,
           "old_set": old_set, "root": root}
    torch.set_num_threads(threads)


def _candidate(world, name, value, held_out):
    def build(folder):
        for sub in ("adapter", "merged"):
            (folder / sub).mkdir()
        _card(folder, value, held_out)

    version = world["reg"].version_for({"run": name})
    world["reg"].publish(version, build)
    return version


def test_a_candidate_that_only_beats_the_old_number_is_not_promoted(world):
    pub, reg, held_out, incumbent = world["pub"], world["reg"], world["held_out"], world["incumbent"]
    # Measured properly: the promoted version scores this today, and the candidate is worse than that, while
    # still beating both the number recorded on the old set and the base model.
    today = held_out.score(reg.path(incumbent), json.loads((reg.path(incumbent) / "manifest.json").read_text()))
    assert today["loaded"] == "adapter on the current base model" and today["metric"] == "token_f1"
    assert today["value"] > 0.1, today["overall"]  # trained on these chats: its answers overlap the references
    worse = _candidate(world, "worse", today["value"] / 2, held_out.key)
    registry_root = world["layout"].root / "registry"

    result = pub.promote_if_better(registry_root, worse, held_out)
    assert not result.passed and reg.promoted() == incumbent
    assert f"does not beat promoted {incumbent} {today['value']:.4g} on held-out data " \
           f"{held_out.key['data_version']}" in result.reasons[0]
    assert result.compared["incumbent"]["value"] == today["value"]
    assert result.compared["incumbent"]["recorded"]["value"] == 0.01
    assert result.compared["held_out"] == held_out.key
    # Without the current set the gate can only refuse: the two numbers come from different held-out sets.
    assert not pub.promote_if_better(registry_root, worse).passed and reg.promoted() == incumbent


def test_the_promoted_version_is_re_evaluated_once_per_held_out_set(world, monkeypatch):
    pub, reg, held_out, incumbent = world["pub"], world["reg"], world["held_out"], world["incumbent"]
    folder = reg.path(incumbent)
    manifest = json.loads((folder / "manifest.json").read_text())
    first = held_out.score(folder, manifest)
    cached = world["layout"].version_scores("m", incumbent) / (
        f"{held_out.key['data_version']}-{held_out.key['settings']}.json")
    assert cached.is_file() and json.loads(cached.read_text())["value"] == first["value"]

    def must_not_run(*args, **kwargs):
        raise AssertionError("re-evaluated although a score on this held-out set exists")

    monkeypatch.setattr(CurrentHeldOut, "_evaluate", must_not_run)
    better = _candidate(world, "better", first["value"] + 0.05, held_out.key)
    result = pub.promote_if_better(world["layout"].root / "registry", better, held_out)
    assert result.passed and reg.promoted() == better, result.reasons
    assert result.compared["incumbent"]["measured"].endswith("(cached)")
    gate = [e for e in reg.history() if e["event"] == "gate"][-1]
    assert gate["compared"]["incumbent"]["value"] == first["value"]  # the decision names both numbers


def test_a_candidate_measured_on_an_older_held_out_set_is_refused(world):
    held_out = world["held_out"]
    stale = _candidate(world, "stale", 0.99, world["old_set"])  # its old, easy set flattered it
    result = world["pub"].promote_if_better(world["layout"].root / "registry", stale, held_out)
    assert not result.passed and "evaluate it again" in result.reasons[0]
    assert world["reg"].promoted() != stale


def test_after_a_base_model_change_the_merged_model_is_scored(world):
    from resources.evaluation.evaluator import Evaluator
    from resources.layout import Layout

    reg, incumbent = world["reg"], world["incumbent"]
    folder = reg.path(incumbent)
    manifest = json.loads((folder / "manifest.json").read_text())
    base_before = world["held_out"]
    other_base = CurrentHeldOut(Evaluator(max_new_tokens=16), base_before.eval_path, base_before.base_model_dir,
                                "a-new-base-model", scores_dir=lambda v: Layout(world["root"] / "other").root / v)
    merged = other_base.score(folder, manifest)
    assert merged["loaded"] == "merged model"
    assert merged["value"] == pytest.approx(base_before.score(folder, manifest)["value"], abs=0.02)
