"""The training run key: the same data, base and what-is-learnt settings give the same run folder, so changing
how often checkpoints are written resumes the run instead of starting a new one."""

from __future__ import annotations

import dataclasses

from resources.training.config import TrainConfig
from resources.training.launcher import Trainer
from resources.training.run_key import training_run_key
from test_training_loop import write_train_set


def test_checkpoint_cadence_keeps_the_run_and_the_learning_rate_starts_a_new_one(tmp_path):
    data = write_train_set(tmp_path / "train.parquet", 6)
    key = training_run_key(data, "base-v1", Trainer().train_config())
    # save_every (like the speed switches) is left out of config_hash, the fingerprint the trainer resumes under
    assert training_run_key(data, "base-v1", Trainer(save_every=3).train_config()) == key
    assert training_run_key(data, "base-v1", Trainer(fused_loss="off").train_config()) == key
    assert training_run_key(data, "base-v1", Trainer(learning_rate=1e-4).train_config()) != key
    assert training_run_key(data, "base-v2", Trainer().train_config()) != key
    assert training_run_key(write_train_set(tmp_path / "other.parquet", 7), "base-v1",
                            Trainer().train_config()) != key


def test_a_dpo_run_is_keyed_by_its_start_and_its_dpo_settings(tmp_path):
    data = write_train_set(tmp_path / "pairs.parquet", 4)
    dpo = dataclasses.replace(TrainConfig(), objective="dpo")
    key = training_run_key(data, "base-v1", dpo, init="adapter-a")
    assert training_run_key(data, "base-v1", dataclasses.replace(dpo, save_every=1), init="adapter-a") == key
    assert training_run_key(data, "base-v1", dataclasses.replace(dpo, beta=0.3), init="adapter-a") != key
    assert training_run_key(data, "base-v1", dpo, init="adapter-b") != key
    assert training_run_key(data, "base-v1", dpo) != key
