"""activation_plan.py: the cheapest plan that fits the budget, pieces of rows, and training that learns the same."""

from __future__ import annotations

import pytest

from resources.training import activation_plan, activation_probe
from resources.training.activation_plan import GIB, choose, parse_budget, pieces, plan_cost
from resources.training.config import TrainConfig
from test_training_loop import Recording, single_thread, write_train_set  # noqa: F401

SHAPE = dict(layers=8, rows=6, row_tokens=512, bytes_per_token=40_000.0, input_bytes_per_token=2_000.0)


def test_a_budget_that_fits_everything_keeps_every_layer_whole():
    plan = choose(1e15, **SHAPE)
    assert (plan.kept, plan.split) == (8, 1)
    assert plan.activation_bytes() == 8 * 40_000 * 6 * 512
    assert plan.summary().startswith("activation plan: 8 of 8 layers keep their activations, 0 recompute")


def test_no_budget_recomputes_every_layer_in_single_rows():
    plan = choose(0.0, **SHAPE)
    assert (plan.kept, plan.split) == (0, 6)
    assert plan.activation_bytes() > 0.0  # nothing fits: the least there is, over budget
    assert "0 of 8 layers keep" in plan.summary() and "6 piece(s)" in plan.summary()


def test_more_budget_never_gives_a_costlier_plan():
    smallest = choose(0.0, **SHAPE).activation_bytes()
    budgets = [smallest * 1.07 ** i for i in range(-3, 120)]
    plans = [choose(b, **SHAPE) for b in budgets]
    costs = [p.relative_cost() for p in plans]
    assert costs == sorted(costs, reverse=True)
    assert len({(p.kept, p.split) for p in plans}) >= 6  # the sweep does pass through plans in between
    for budget, plan in zip(budgets, plans):
        assert SHAPE["rows"] % plan.split == 0
        if budget >= smallest:
            assert plan.activation_bytes() <= budget
            # and nothing cheaper would have fitted
            for split in (1, 2, 3, 6):
                for kept in range(9):
                    fits = activation_plan.predicted_bytes(kept, 8, 6 * 512 // split, 40_000.0, 2_000.0) <= budget
                    assert not fits or plan_cost(kept, 8, split, 6 * 512) >= plan.relative_cost()


def test_without_splitting_pieces_stay_whole():
    for budget in (0.0, 1e6, 1e8, 1e15):
        assert choose(budget, **SHAPE, can_split=False).split == 1
    whole, split = choose(1e8, **SHAPE, can_split=False), choose(1e8, **SHAPE)
    assert (whole.kept, whole.split) == (0, 1) and whole.activation_bytes() > 1e8  # nothing fits whole
    assert split.split > 1 and split.activation_bytes() <= 1e8


def test_pieces_keep_rows_in_order():
    import torch

    def batch(rows):
        ids = torch.arange(rows * 5).view(rows, 5)
        return {"input_ids": ids, "labels": ids + 1000, "position_ids": ids % 5}

    def concat(parts):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    for rows, split, sizes in [(4, 2, [2, 2]), (5, 2, [2, 3]), (7, 3, [2, 2, 3]), (3, 4, [1, 1, 1]), (4, 1, [4]),
                               (1, 4, [1])]:
        b = batch(rows)
        parts = pieces(b, split)
        assert [p["input_ids"].shape[0] for p in parts] == sizes
        assert all(set(p) == set(b) for p in parts)
        for k, v in concat(parts).items():
            assert torch.equal(v, b[k])


@pytest.mark.parametrize("value", ["auto", "off", "AUTO", "12", 12, 0.5, " 3.5 "])
def test_budgets_that_are_accepted(value):
    assert TrainConfig(activation_memory=value).validate() == []


def test_budgets_in_bytes():
    assert parse_budget("12") == parse_budget(12) == 12 * GIB
    assert parse_budget(0.5) == GIB / 2
    assert parse_budget(" Off ") == "off"


@pytest.mark.parametrize("value", ["0", "-1", "lots", "inf", "nan", None, ""])
def test_budgets_that_are_refused(value):
    errors = TrainConfig(activation_memory=value).validate()
    assert len(errors) == 1
    assert errors[0].startswith(f"activation_memory is {value!r}: use auto, off or a positive number of GiB")


def test_speed_settings_leave_the_config_hash_alone():
    base = TrainConfig().config_hash()
    assert TrainConfig(activation_memory="off", lean_lora="on").config_hash() == base
    assert TrainConfig(activation_memory="10", lean_lora="off").config_hash() == base
    assert TrainConfig(lora_dropout=0.1).config_hash() != base


# --- on the tiny model --------------------------------------------------------------------------------------
RUN = dict(max_steps=3, micro_batch_size=4, max_seq_len=128, save_every=100, warmup_steps=0)
VARIANTS = {  # name: (lean_lora, activation_memory, lora_dropout)
    "peft": ("off", "off", 0.0), "lean": ("on", "off", 0.0), "lean-none-kept": ("on", "0.00001", 0.0),
    "lean-all-kept": ("on", "10", 0.0), "peft-none-kept": ("off", "0.00001", 0.0),
    # with dropout: kept and recomputed layers must draw the same masks; the peft run measures what lean saves
    "dropout-recomputed": ("on", "off", 0.1), "dropout-kept": ("on", "10", 0.1),
    "peft-dropout-kept": ("off", "10", 0.1)}


def record_planning(monkeypatch, after_plan) -> dict:
    """Patch the planner and the piece cutter the loop imports when it starts, to record the plan,
    ``after_plan(model)`` right after planning, and the pieces of every micro-batch; undo with monkeypatch.undo()."""
    seen = {"plan": "unset", "after": None, "pieces": []}
    make_plan, cut = activation_plan.make_plan, activation_plan.pieces

    def recording_plan(cfg, model, *args):
        seen["plan"] = make_plan(cfg, model, *args)
        seen["after"] = after_plan(model)
        return seen["plan"]

    def recording_pieces(batch, split):
        parts = cut(batch, split)
        seen["pieces"].append(len(parts))
        return parts

    monkeypatch.setattr(activation_plan, "make_plan", recording_plan)
    monkeypatch.setattr(activation_plan, "pieces", recording_pieces)
    return seen


def train_variant(out, tiny_model_dir, train_path, lean, budget, dropout, monkeypatch) -> dict:
    """Steps, log lines, the plan and the layers' checkpointing flags right after planning, pieces per call."""
    from resources.training.loop import train

    seen = record_planning(monkeypatch, lambda model: [layer.gradient_checkpointing
                                                       for layer in activation_plan.decoder_layers(model)])
    reporter = Recording()
    train(TrainConfig(**RUN, lora_dropout=dropout, lean_lora=lean, activation_memory=budget), tiny_model_dir,
          train_path, out, reporter)
    monkeypatch.undo()
    seen["flags"] = seen.pop("after")
    return {"steps": [(s["loss"], s["grad_norm"]) for s in reporter.steps], "lines": reporter.lines, **seen}


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory, single_thread):  # noqa: F811
    root = tmp_path_factory.mktemp("plan")
    train_path = write_train_set(root / "train.parquet")
    with pytest.MonkeyPatch.context() as mp:
        return {name: train_variant(root / name, tiny_model_dir, train_path, *variant, mp)
                for name, variant in VARIANTS.items()}


@pytest.fixture(scope="module")
def middle(runs, tiny_model_dir, tmp_path_factory):
    """A run whose budget fits two kept layers (from the per-token bytes the big-budget run measured)."""
    measured = runs["lean-all-kept"]["plan"]
    two = activation_plan.predicted_bytes(2, 4, measured.tokens, measured.bytes_per_token,
                                          measured.input_bytes_per_token)
    root = tmp_path_factory.mktemp("middle")
    with pytest.MonkeyPatch.context() as mp:
        return train_variant(root / "out", tiny_model_dir, write_train_set(root / "train.parquet"), "on",
                             two * 1.001 / GIB, 0.0, mp)


@pytest.mark.slow
def test_a_budget_in_between_keeps_the_last_layers(middle, runs):
    assert (middle["plan"].kept, middle["plan"].split) == (2, 1)
    assert middle["flags"] == [True, True, False, False]  # the first two recompute
    assert_same_steps(middle["steps"], runs["peft"]["steps"])


def assert_same_steps(got, want):
    assert len(got) == len(want) == RUN["max_steps"]
    for (loss, norm), (loss_want, norm_want) in zip(got, want):
        assert loss == pytest.approx(loss_want, rel=1e-5) and norm == pytest.approx(norm_want, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lean", "lean-none-kept", "lean-all-kept", "peft-none-kept"])
def test_every_plan_learns_what_peft_with_checkpointing_learns(runs, name):
    assert_same_steps(runs[name]["steps"], runs["peft"]["steps"])


@pytest.mark.slow
def test_with_dropout_keeping_activations_learns_what_recomputing_does(runs):
    """A recomputed layer draws its dropout masks again from the same seeds."""
    assert_same_steps(runs["dropout-kept"]["steps"], runs["dropout-recomputed"]["steps"])
    # the control: dropout does move the gradients by more than the tolerance
    assert runs["dropout-kept"]["steps"][1][1] != pytest.approx(runs["lean-all-kept"]["steps"][1][1], rel=1e-3)


@pytest.mark.slow
def test_plans_are_applied_and_logged(runs):
    for name in ("peft", "lean", "dropout-recomputed"):
        assert runs[name]["plan"] is None and runs[name]["flags"] == [True] * 4  # every layer recomputed
        assert not [line for line in runs[name]["lines"] if "activation plan" in line]
        assert set(runs[name]["pieces"]) == {1}
    for name, kept, split in [("lean-none-kept", 0, 4), ("lean-all-kept", 4, 1), ("peft-none-kept", 0, 4)]:
        run = runs[name]
        plan = run["plan"]
        assert (plan.layers, plan.kept, plan.split) == (4, kept, split)
        assert plan.bytes_per_token > plan.input_bytes_per_token == 128 * 4  # hidden 128 in fp32
        assert run["flags"] == [i < 4 - kept for i in range(4)]
        assert run["pieces"] == [split] * RUN["max_steps"]
        [line] = [line for line in run["lines"] if "activation plan" in line]
        assert line.startswith(f"activation plan: {kept} of 4 layers keep their activations, {4 - kept} recompute; "
                               f"micro-batches in {split} piece(s)")


@pytest.mark.slow
def test_lean_lora_saves_less_with_dropout(runs):
    """With dropout peft keeps a dropped-out copy of each adapted layer's input and its mask; lean_lora neither."""
    lean, peft = runs["dropout-kept"]["plan"].bytes_per_token, runs["peft-dropout-kept"]["plan"].bytes_per_token
    assert lean < 0.8 * peft, (lean, peft)


def test_probe_leaves_no_activations_behind(tiny_model_dir, monkeypatch):
    """The probe's forward never runs backward: what the measured layer saved must be freed with its output
    (an identity pack hook kept it for the whole run, 0.9 GiB on an 8B model)."""
    import contextlib
    import gc
    import weakref

    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    model = get_peft_model(load_causal_lm(tiny_model_dir, device="cpu"),
                           LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="all-linear"))
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    saved, pack = [], activation_probe.SavedBytes._pack

    def recording(self, t):
        if not isinstance(t, torch.nn.Parameter):
            saved.append(weakref.ref(t))
        return pack(self, t)

    monkeypatch.setattr(activation_probe.SavedBytes, "_pack", recording)
    ids = torch.randint(0, 100, (2, 32))
    activation_probe.probe(model, model, {"input_ids": ids, "labels": ids}, contextlib.nullcontext(), "cpu")
    gc.collect()
    assert len(saved) > 10
    assert [tuple(r().shape) for r in saved if r() is not None] == []


def test_probe_learns_nothing_and_restores_the_random_state(tiny_model_dir):
    import contextlib

    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    model = get_peft_model(load_causal_lm(tiny_model_dir, device="cpu"),
                           LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="all-linear"))
    ids = torch.randint(0, 100, (2, 16))
    state = torch.get_rng_state()
    per_token, free, seconds = activation_probe.probe(model, model, {"input_ids": ids, "labels": ids},
                                            contextlib.nullcontext(), "cpu")
    assert per_token > 0 and free is None and seconds is None  # a forward is timed on a GPU only
    assert torch.equal(torch.get_rng_state(), state)
    assert all(p.grad is None for p in model.parameters())
    assert per_token == activation_probe.probe(model, model, {"input_ids": ids[:1], "labels": ids[:1]},
                                              contextlib.nullcontext(), "cpu")[0]  # bytes grow with the tokens
