"""The paired bootstrap that says whether a fine-tune beats prompting beyond the luck of the held-out draw."""

from __future__ import annotations

import json
import random

import pytest

from resources.evaluation.bootstrap import compare_with_baselines, paired_bootstrap


def test_a_consistent_gain_has_an_interval_that_excludes_zero():
    rng = random.Random(1)
    base = [rng.random() * 0.3 for _ in range(60)]
    tuned = [b + 0.2 + rng.gauss(0, 0.05) for b in base]
    r = paired_bootstrap(tuned, base, seed=0)
    assert r["excludes_zero"] and 0.15 < r["ci_low"] < r["diff"] < r["ci_high"] < 0.25
    assert r["diff"] == pytest.approx(sum(tuned) / 60 - sum(base) / 60)


def test_pure_noise_is_not_called_a_gain_and_the_result_is_reproducible():
    rng = random.Random(2)
    base = [rng.random() for _ in range(80)]
    tuned = rng.sample(base, len(base))  # same scores dealt to other items: no real difference at all
    r = paired_bootstrap(tuned, base, seed=3)
    assert r["ci_low"] < 0 < r["ci_high"] and not r["excludes_zero"]
    assert paired_bootstrap(tuned, base, seed=3) == r


def test_pairing_matters_a_shared_item_difficulty_does_not_hide_a_small_gain():
    # items vary a lot in difficulty, the fine-tune is a little better on every one: unpaired intervals would
    # straddle 0, the paired one must not
    rng = random.Random(4)
    base = [rng.random() for _ in range(50)]
    tuned = [b + 0.02 for b in base]
    assert paired_bootstrap(tuned, base)["excludes_zero"]


def test_mismatched_sides_are_refused():
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([0.1, 0.2], [0.1])


def test_compare_with_baselines_pairs_by_item_id(tmp_path):
    ckpt, base = tmp_path / "ckpt", tmp_path / "base"
    ckpt.mkdir(), base.mkdir()

    def write(path, rows):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    write(ckpt / "predictions.jsonl", [{"id": f"x/{i}", "token_f1": 0.9, "rougeL": 0.8} for i in range(30)])
    # written in another order and with an item the checkpoint did not see: pairing is by id
    write(base / "predictions_zero_shot.jsonl",
          [{"id": f"x/{i}", "token_f1": 0.1, "rougeL": 0.2} for i in reversed(range(31))])
    write(base / "predictions_few_shot.jsonl", [{"id": f"x/{i}", "token_f1": 0.9, "rougeL": 0.8} for i in range(30)])
    out = compare_with_baselines(ckpt, base)
    assert out["zero_shot"]["token_f1"]["n"] == 30 and out["zero_shot"]["token_f1"]["excludes_zero"]
    assert out["zero_shot"]["rougeL"]["diff"] == pytest.approx(0.6)
    assert not out["few_shot"]["token_f1"]["excludes_zero"]
