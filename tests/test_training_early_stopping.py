"""Early stopping on the tiny model: the run stops when the held-out loss rises, its best checkpoint is on disk
and is the one handed on to evaluation, the stop survives a resume, and settings are checked up front."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from resources.training.checkpointing import list_checkpoints, read_state
from resources.training.config import EARLY_STOPPING, TrainConfig
from resources.training.early_stopping import EarlyStopping
from resources.training.run_outcome import handed_on_steps, heldout_curve_md, is_finished, outcome
from test_training_loop import Recording, read_log, write_train_set

# on the sums-and-orders training set, the loss on answers of unrelated words falls for ~4 steps, then rises
ES_CONFIG = dict(max_steps=16, save_every=6, micro_batch_size=2, max_seq_len=256, warmup_steps=1,
                 quantization="none", eval_loss_every=2, early_stopping_patience=2)


def write_unlike_eval_set(path: Path, n: int = 12) -> Path:
    """Held-out answers unlike the training answers: strings of unrelated words."""
    import pandas as pd

    from resources.schema import EXAMPLE_COLUMNS, make_example
    from resources.storage import write_parquet

    rng = random.Random(3)
    words = ["lamp", "river", "quiet", "blue", "seven", "window", "autumn"]
    rows = [make_example(source="expert_annotations", drop="d1", row=i + 1, task="qa",
                         messages=[{"role": "user", "content": f"Describe item {i}."},
                                   {"role": "assistant", "content": " ".join(rng.choice(words) for _ in range(8))}])
            for i in range(n)]
    return write_parquet(path, pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS)))


@pytest.fixture(scope="module")
def stopped(tiny_model_dir, tmp_path_factory):
    import torch

    from resources.training.loop import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("early")
    paths = {"train_path": write_train_set(root / "train.parquet"),
             "eval_path": write_unlike_eval_set(root / "eval.parquet")}
    reporter = Recording()
    result = train(TrainConfig(**ES_CONFIG), tiny_model_dir, paths["train_path"], root / "out", reporter,
                   eval_path=paths["eval_path"])
    yield {"root": root, "out": root / "out", "result": result, "reporter": reporter, **paths}
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_the_run_stops_when_held_out_loss_stops_improving(stopped):
    result, out = stopped["result"], stopped["out"]
    log = read_log(out / "train_log.jsonl")
    measured = [(r["step"], r["heldout_loss"]) for r in log if "heldout_loss" in r]
    assert [s for s, _ in measured] == list(range(2, result["steps"] + 1, 2))
    best_step, best_loss = min(measured, key=lambda m: m[1])
    # it stopped exactly `patience` measurements after the best, long before max_steps
    assert result["steps"] == best_step + 2 * ES_CONFIG["eval_loss_every"] < ES_CONFIG["max_steps"]
    assert all(loss > best_loss for s, loss in measured if s > best_step)
    assert result["stop_reason"] == (f"early stop: held-out loss did not improve for 2 evaluations "
                                     f"(best {best_loss:.4f} at step {best_step})")
    assert log[-1]["step"] == result["steps"]  # nothing trained after the stop
    # checkpoints: every new best, every save_every step, and the stop; the stop's state holds the reason
    steps = [read_state(p)["step"] for p in list_checkpoints(out)]
    improved = [r["step"] for r in log if r.get("improved")]
    assert best_step in improved and set(steps) == set(improved) | {6} | {result["steps"]}
    last = read_state(list_checkpoints(out)[-1])
    assert last["stop_reason"] == result["stop_reason"] and last["heldout"]["best_step"] == best_step
    lines = stopped["reporter"].lines
    assert f"held-out loss {best_loss:.4f} at step {best_step} (new best)" in lines
    assert lines[-1].endswith("; " + result["stop_reason"])


@pytest.mark.slow
def test_logged_held_out_loss_is_the_evaluation_reports_loss(stopped, tiny_model_dir):
    """The loss the trainer watched is the one checkpoint evaluation reports (same code, same items)."""
    import torch

    from resources.evaluation.heldout_loss import reference_nll
    from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
    from resources.training.heldout import read_heldout

    log = {r["step"]: r for r in read_log(stopped["out"] / "train_log.jsonl")}
    tok = load_tokenizer(tiny_model_dir)
    examples, compared = read_heldout(stopped["eval_path"]), 0
    for path in list_checkpoints(stopped["out"]):
        step = read_state(path)["step"]
        if "heldout_loss" not in log[step]:
            continue
        model = load_adapter(load_causal_lm(tiny_model_dir, device="cpu", dtype=torch.float32), path).eval()
        nll = reference_nll(model, tok, examples)
        assert sum(s for s, _ in nll) / sum(n for _, n in nll) == pytest.approx(log[step]["heldout_loss"], abs=1e-5)
        compared += 1
    assert compared >= 3


@pytest.mark.slow
def test_only_the_best_checkpoint_goes_on_to_evaluation(stopped):
    out, result = stopped["out"], stopped["result"]
    best = result["heldout"]["best_step"]
    assert handed_on_steps(out) == [best]
    assert is_finished(out, ES_CONFIG["max_steps"])
    record = outcome(out)
    assert record["stop_reason"] == result["stop_reason"] and record["best_heldout_step"] == best
    assert record["resumed_from_steps"] == [] and record["heldout_evaluations"] == result["steps"] // 2
    assert heldout_curve_md(out).startswith("![Held-out loss while training](data:image/png;base64,")


@pytest.mark.slow
def test_a_resumed_run_stops_where_the_uninterrupted_one_did(stopped, tiny_model_dir, tmp_path):
    """Killed after the best checkpoint: the early-stopping state comes back with it, the stop is the same."""
    from resources.training.loop import train

    out, first = tmp_path / "out", stopped["result"]
    best = first["heldout"]["best_step"]
    out.mkdir()
    shutil.copytree(stopped["out"] / f"checkpoint-{best:06d}", out / f"checkpoint-{best:06d}")
    full = read_log(stopped["out"] / "train_log.jsonl")
    (out / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in full[:best + 1]) + '{"step": 9')
    result = train(TrainConfig(**ES_CONFIG), tiny_model_dir, stopped["train_path"], out, Recording(),
                   eval_path=stopped["eval_path"])
    assert result["resumed_from"] == best and result["steps"] == first["steps"]
    assert result["stop_reason"] == first["stop_reason"]
    assert [h[1] for h in result["heldout"]["history"]] == pytest.approx([h[1] for h in first["heldout"]["history"]],
                                                                         abs=1e-6)
    assert outcome(out)["resumed_from_steps"] == [best]
    # a stopped run started again trains nothing: its last checkpoint says it is done
    again = train(TrainConfig(**ES_CONFIG), tiny_model_dir, stopped["train_path"], out, Recording(),
                  eval_path=stopped["eval_path"])
    assert again["steps"] == first["steps"] and len(read_log(out / "train_log.jsonl")) == first["steps"]


@pytest.mark.slow
def test_a_changed_held_out_set_is_not_resumed(stopped, tiny_model_dir, tmp_path):
    from resources.training.loop import ResumeMismatch, train

    shutil.copytree(stopped["out"] / "checkpoint-000002", tmp_path / "out" / "checkpoint-000002")
    with pytest.raises(ResumeMismatch, match="different data"):
        train(TrainConfig(**ES_CONFIG), tiny_model_dir, stopped["train_path"], tmp_path / "out", Recording(),
              eval_path=write_unlike_eval_set(tmp_path / "eval.parquet", n=5))


def test_the_rule():
    rule, state = EarlyStopping(every=5, patience=2, min_delta=0.1), {"step": 0}
    assert [rule.due(s) for s in (1, 5, 7, 10)] == [False, True, False, True]
    assert rule.record(state, 5, 2.0)["improved"]
    # the lowest loss so far is the best (and gets a checkpoint), but less than min_delta lower is no progress
    assert rule.record(state, 10, 1.95) == {"heldout_loss": 1.95, "improved": True, "best_heldout_loss": 1.95,
                                            "best_heldout_step": 10, "bad_evals": 1}
    assert rule.stop_reason(state) is None
    assert rule.record(state, 15, 1.8)["improved"] and state["heldout"]["bad_evals"] == 0
    assert not rule.record(state, 20, float("nan"))["improved"]  # a diverged run is never better
    rule.record(state, 25, 1.9)
    assert rule.stop_reason(state) == ("early stop: held-out loss did not improve by more than 0.1 for 2 "
                                       "evaluations (best 1.8000 at step 15)")
    measuring, rising = EarlyStopping(every=1, patience=0, min_delta=0.0), {}  # patience 0: measure, never stop
    for step in range(1, 6):
        measuring.record(rising, step, float(step))
    assert rising["heldout"]["bad_evals"] == 4 and measuring.stop_reason(rising) is None


def test_settings_are_checked_up_front():
    problems = TrainConfig(eval_loss_every=-1, early_stopping_patience=-2, early_stopping_min_delta=-0.5).validate()
    assert [p.split(" ", 1)[0] for p in problems] == ["eval_loss_every", "early_stopping_patience",
                                                     "early_stopping_min_delta"]
    assert "need eval_loss_every > 0" in TrainConfig(early_stopping_patience=3).validate()[0]
    assert "SFT runs" in TrainConfig(eval_loss_every=5, objective="dpo").validate()[0]
    assert TrainConfig(eval_loss_every=5, early_stopping_patience=3, early_stopping_min_delta=0.01).validate() == []


def test_off_by_default_and_invisible_when_off():
    """Off, a configuration reads, hashes and resumes as before early stopping existed; the preference stage's DPO
    config has it off even when SFT's is on."""
    from resources.training.preference_settings import PreferenceTrainer

    assert not set(EARLY_STOPPING) & set(TrainConfig().to_dict())
    on = TrainConfig(eval_loss_every=4, early_stopping_patience=2)
    assert TrainConfig.from_dict(on.to_dict()) == on and on.config_hash() != TrainConfig().config_hash()
    dpo = PreferenceTrainer().config(on)
    assert dpo.eval_loss_every == 0 and dpo.validate() == []


def test_the_held_out_set_is_part_of_the_run_key_only_when_measured(tmp_path):
    from resources.training.run_key import training_run_key

    train = write_train_set(tmp_path / "train.parquet", 6)
    one, two = write_unlike_eval_set(tmp_path / "one.parquet", 4), write_unlike_eval_set(tmp_path / "two.parquet", 5)
    off, on = TrainConfig(), TrainConfig(eval_loss_every=2)
    assert training_run_key(train, "b", off, heldout_path=one) == training_run_key(train, "b", off)
    assert training_run_key(train, "b", on, heldout_path=one) != training_run_key(train, "b", on, heldout_path=two)


def test_the_end_of_run_report_says_how_training_ended():
    from resources.reports.run_summary import training_lines

    assert training_lines({}) == []  # a run recorded before stop reasons existed
    assert training_lines({"stop_reason": "max_steps reached", "resumed_from_steps": [6, 12]}) == [
        "training: max_steps reached; resumed after an interruption from step(s) 6, 12"]
    (line,) = training_lines({"stop_reason": "early stop: held-out loss did not improve for 2 evaluations (best "
                                             "1.5000 at step 4)", "resumed_from_steps": []})
    assert line.endswith("(best 1.5000 at step 4); only that best checkpoint was evaluated")
