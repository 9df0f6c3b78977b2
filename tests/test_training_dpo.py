"""DPO through the real training loop on the tiny model: from an SFT checkpoint, against its frozen self.

Preference accuracy and reward margin rise, checkpoints are the same complete folders SFT writes, the reference
pass is stored once and read back on resume, and a resumed run ends at the very same adapter."""

from __future__ import annotations

import json
import shutil

import pytest

from preference_sets import pair_rows, write_pairs
from resources.training.checkpointing import ADAPTER_FILES, adapter_hash, list_checkpoints, read_state
from resources.training.config import TrainConfig
from resources.training.reference import REFERENCE_FILE
from test_training_loop import LOOP_CONFIG, Recording, read_log, single_thread, write_train_set  # noqa: F401

DPO_CONFIG = dict(LOOP_CONFIG, objective="dpo", beta=0.1, learning_rate=5e-3, micro_batch_size=4)


@pytest.fixture(scope="module")
def dpo_run(tiny_model_dir, tmp_path_factory, single_thread):
    from resources.training.loop import train

    root = tmp_path_factory.mktemp("dpo")
    sft = train(TrainConfig(**LOOP_CONFIG), tiny_model_dir, write_train_set(root / "train.parquet"), root / "sft",
                Recording())
    rows = pair_rows(24)
    rows[3]["rejected"] = rows[3]["chosen"]  # bad input, left out with a reason
    rows[5]["prompt"] = "[]"
    rows[7]["chosen"] = "  "
    pairs = write_pairs(root / "pairs.parquet", rows)
    reporter = Recording()
    result = train(TrainConfig(**DPO_CONFIG), tiny_model_dir, pairs, root / "out", reporter,
                   init_adapter=sft["final_checkpoint"])
    return {"root": root, "pairs": pairs, "sft": sft["final_checkpoint"], "out": root / "out", "result": result,
            "reporter": reporter}


@pytest.mark.slow
def test_dpo_learns_the_preferences(dpo_run):
    log = read_log(dpo_run["out"] / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, 9))
    assert log[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # policy == reference at step 0: -log sigmoid(0)
    assert log[0]["reward_margin"] == pytest.approx(0.0, abs=1e-4)
    late = log[-3:]
    assert sum(r["loss"] for r in late) / 3 < 0.6931 - 0.1, [r["loss"] for r in log]
    assert sum(r["reward_margin"] for r in late) / 3 > 0.1
    assert sum(r["reward_accuracy"] for r in late) / 3 > 0.8
    assert sum(r["pairs"] for r in log[:6]) == 21  # one epoch: 21 good pairs in micro-batches of 4
    assert any("starting from adapter" in line for line in dpo_run["reporter"].lines)


@pytest.mark.slow
def test_bad_pairs_are_left_out_with_a_reason(dpo_run):
    result = dpo_run["result"]
    assert result["skipped"] == {"chosen equals rejected": ["corrected_outputs/d1/4"],
                                 "missing prompt": ["corrected_outputs/d1/6"],
                                 "empty chosen": ["corrected_outputs/d1/8"]}
    assert result["examples"] == 21


@pytest.mark.slow
def test_dpo_checkpoints_are_adapters_like_sft_ones(dpo_run):
    out, result = dpo_run["out"], dpo_run["result"]
    assert [c["step"] for c in result["checkpoints"]] == [4, 8]
    for path in list_checkpoints(out):
        assert all((path / f).stat().st_size > 0 for f in ADAPTER_FILES)
        state = read_state(path)
        assert state["config"]["objective"] == "dpo" and state["config"]["beta"] == 0.1
    assert result["adapter_hash"] != adapter_hash(dpo_run["sft"])  # it moved away from the SFT adapter
    stored = json.loads((out / REFERENCE_FILE).read_text())
    assert len(stored["logps"]) == 21 and all(c < 0 and r < 0 for c, r in stored["logps"])


@pytest.mark.slow
def test_dpo_resume_reads_the_reference_and_ends_at_the_same_adapter(dpo_run, tiny_model_dir, tmp_path):
    from resources.training.loop import train

    out = tmp_path / "out"
    out.mkdir()
    shutil.copytree(dpo_run["out"] / "checkpoint-000004", out / "checkpoint-000004")
    shutil.copy(dpo_run["out"] / REFERENCE_FILE, out / REFERENCE_FILE)
    reporter = Recording()
    result = train(TrainConfig(**DPO_CONFIG), tiny_model_dir, dpo_run["pairs"], out, reporter,
                   init_adapter=dpo_run["sft"])
    assert result["resumed_from"] == 4
    assert any("read from reference_logps.json" in line for line in reporter.lines)
    assert result["adapter_hash"] == dpo_run["result"]["adapter_hash"]


@pytest.mark.slow
def test_dpo_resume_refuses_another_sft_adapter(dpo_run, tiny_model_dir, tmp_path):
    from resources.training.loop import ResumeMismatch, train

    shutil.copytree(dpo_run["out"] / "checkpoint-000004", tmp_path / "checkpoint-000004")
    other = tmp_path / "other_sft"
    shutil.copytree(dpo_run["sft"], other)
    cfg = json.loads((other / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps({**cfg, "revision": "x"}))
    with pytest.raises(ResumeMismatch, match="different data"):
        train(TrainConfig(**DPO_CONFIG), tiny_model_dir, dpo_run["pairs"], tmp_path, Recording(), init_adapter=other)


def test_dpo_without_a_starting_adapter_is_refused(tiny_model_dir, tmp_path):
    from resources.training.loop import train

    pairs = write_pairs(tmp_path / "pairs.parquet", pair_rows(4))
    with pytest.raises(ValueError, match="needs the SFT checkpoint"):
        train(TrainConfig(**DPO_CONFIG), tiny_model_dir, pairs, tmp_path / "out", Recording())


def test_dpo_settings_are_checked():
    errors = TrainConfig(objective="ppo", beta=0, dpo_loss="hinge").validate()
    assert any("objective 'ppo' is unknown" in e for e in errors)
    assert any("beta is 0" in e for e in errors)
    assert any("dpo_loss 'hinge' is unknown" in e for e in errors)
    assert "objective" not in TrainConfig().to_dict()  # SFT run keys and checkpoints stay what they were
    assert TrainConfig(objective="dpo").config_hash() != TrainConfig(objective="dpo", beta=0.2).config_hash()


@pytest.mark.parametrize("change,reason", [
    ({"rejected": "Order A-1 was shipped."}, "chosen equals rejected"),
    ({"chosen": ""}, "empty chosen"), ({"rejected": None}, "empty rejected"),
    ({"prompt": None}, "missing prompt"), ({"prompt": "[]"}, "missing prompt"),
    ({"prompt": '[{"role": "assistant", "content": "Hi"}]'}, "missing prompt"),
])
def test_a_bad_pair_is_left_out_with_its_reason(tiny_model_dir, tmp_path, change, reason):
    from resources.model.loading import load_tokenizer
    from resources.training.pairs import load_pairs

    rows = pair_rows(3)
    rows[1].update({"chosen": "Order A-1 was shipped.", **change})
    loaded = load_pairs(write_pairs(tmp_path / "p.parquet", rows), load_tokenizer(tiny_model_dir), 256)
    assert loaded.skipped == {reason: ["corrected_outputs/d1/2"]} and len(loaded.docs) == 2


def test_unreadable_pair_files_are_refused_with_the_file_named(tiny_model_dir, tmp_path):
    import pandas as pd

    from resources.model.loading import load_tokenizer
    from resources.storage import write_parquet
    from resources.training.pairs import load_pairs

    tok = load_tokenizer(tiny_model_dir)
    with pytest.raises(FileNotFoundError, match="materialise preference_pairs"):
        load_pairs(tmp_path / "none.parquet", tok, 256)
    no_rejected = write_parquet(tmp_path / "a.parquet", pd.DataFrame({"prompt": ["[]"], "chosen": ["x"]}))
    with pytest.raises(ValueError, match=r"a.parquet: no \['rejected'\] column"):
        load_pairs(no_rejected, tok, 256)
    rows = pair_rows(2)
    rows[0]["prompt"] = "[{not json"
    with pytest.raises(ValueError, match="pair corrected_outputs/d1/1: prompt is not valid JSON"):
        load_pairs(write_pairs(tmp_path / "b.parquet", rows), tok, 256)
    rows = pair_rows(2)
    for r in rows:
        r["rejected"] = r["chosen"]
    with pytest.raises(ValueError, match="none of its 2 pairs can be trained on"):
        load_pairs(write_pairs(tmp_path / "c.parquet", rows), tok, 256)


def test_a_long_pair_is_cut_to_the_window_keeping_both_answers(tiny_model_dir):
    from resources.model.loading import load_tokenizer
    from resources.training.pairs import tokenize_pair

    tok = load_tokenizer(tiny_model_dir)
    prompt = [{"role": "user", "content": "Where is my order? " * 200}]
    pair = tokenize_pair(tok, prompt, "It was shipped today.", "No idea.", 64)
    assert pair.truncated and len(pair.prompt_ids) + max(len(pair.chosen_ids), len(pair.rejected_ids)) <= 64
    full = tokenize_pair(tok, prompt, "It was shipped today.", "No idea.", 10_000)
    assert pair.chosen_ids == full.chosen_ids and pair.rejected_ids == full.rejected_ids  # answers kept whole
    assert pair.prompt_ids == full.prompt_ids[-len(pair.prompt_ids):]  # the prompt's end, next to the answer


def test_the_dpo_training_code_never_imports_dagster(repo_root):
    """The training process runs in a bare GPU image or pod: dagster_pipes at most, never dagster."""
    import subprocess
    import sys

    code = ("import sys\nimport resources.training.entry, resources.training.objective, resources.training.dpo, "
            "resources.training.reference, resources.training.pairs\nassert 'dagster' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
