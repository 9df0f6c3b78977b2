"""Training configuration: every mistake is reported up front, in words that say what to change."""

from __future__ import annotations

import dataclasses

import dagster as dg
import pytest

from resources.training.config import DPO_ONLY, ConfigError, TrainConfig
from resources.settings_resource import settings_resource
from resources.training.launcher import Trainer


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A model folder with just the tiny Llama config: validation must never need the weights."""
    from transformers import LlamaConfig

    from resources.model.tiny import TINY_SHAPE

    path = tmp_path_factory.mktemp("cfg") / "llama"
    LlamaConfig(vocab_size=512, **TINY_SHAPE).save_pretrained(path)
    return path


def test_defaults_are_valid(llama_dir):
    assert TrainConfig().validate(llama_dir) == []


def test_every_bad_value_is_reported_at_once(llama_dir):
    cfg = TrainConfig(lora_r=0, lora_alpha=-1, lora_dropout=1.0, learning_rate=0, lr_scheduler="cosine_restarts",
                      save_every=0, micro_batch_size=64, max_seq_len=2048, optimizer="sgd", warmup_steps=50,
                      max_steps=10)
    errors = cfg.validate(llama_dir)
    text = "\n".join(errors)
    for field in ("lora_r is 0", "lora_alpha is -1", "lora_dropout is 1.0", "learning_rate is 0",
                  "lr_scheduler 'cosine_restarts'", "save_every is 0", "optimizer 'sgd'",
                  "warmup_steps (50) exceeds max_steps (10)", "131072 tokens exceeds max_batch_tokens"):
        assert field in text, (field, errors)
    with pytest.raises(ConfigError) as info:
        cfg.check(llama_dir)
    assert info.value.errors == errors and "lora_r is 0" in str(info.value)


def test_boundaries(llama_dir):
    assert TrainConfig(lora_dropout=0.0, warmup_steps=0, max_grad_norm=0).validate(llama_dir) == []
    assert any("lora_dropout" in e for e in TrainConfig(lora_dropout=-0.1).validate())
    # the token budget is configurable: the same batch passes once the budget allows it
    big = TrainConfig(micro_batch_size=128, max_seq_len=1024)
    assert any("max_batch_tokens" in e for e in big.validate(llama_dir))
    assert dataclasses.replace(big, max_batch_tokens=131072).validate(llama_dir) == []
    assert any("max_position_embeddings (2048)" in e for e in TrainConfig(max_seq_len=4096, micro_batch_size=1)
               .validate(llama_dir))


def test_unknown_target_module_lists_the_real_ones(llama_dir):
    errors = TrainConfig(target_modules=["q_proj", "query_key_value"]).validate(llama_dir)
    assert len(errors) == 1
    assert "['query_key_value'] not found in Llama" in errors[0]
    assert "q_proj" in errors[0] and "down_proj" in errors[0] and "lm_head" not in errors[0]
    # peft's matching rules: a leaf name, a dotted suffix, or a comma-separated string
    assert TrainConfig(target_modules=["self_attn.v_proj", "gate_proj"]).validate(llama_dir) == []
    assert TrainConfig(target_modules="q_proj, v_proj").validate(llama_dir) == []
    assert TrainConfig(target_modules="q_proj, v_proj").target_modules_value() == ["q_proj", "v_proj"]


def test_missing_base_model_says_local_folder(tmp_path):
    errors = TrainConfig().validate("meta-llama/Llama-3.1-8B")
    assert len(errors) == 1 and "must be a local folder" in errors[0] and "offline" in errors[0]
    (tmp_path / "empty").mkdir()
    assert "no config.json" in TrainConfig().validate(tmp_path / "empty")[0]


def test_dict_round_trip_and_hash():
    cfg = TrainConfig(lora_r=8, target_modules=["q_proj", "v_proj"], use_dora=True)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown training option.*'lora_rank'"):
        TrainConfig.from_dict({"lora_rank": 8})
    # checkpoint cadence does not change what is learnt, so it does not block a resume; the learning rate does
    assert cfg.config_hash() == dataclasses.replace(cfg, save_every=3).config_hash()
    assert cfg.config_hash() != dataclasses.replace(cfg, learning_rate=1e-4).config_hash()


def test_trainer_settings_are_train_config_fields():
    # the objective settings come from the dpo section (PreferenceTrainer), which derives its config from this one
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name not in DPO_ONLY}
    resource_fields = {k: v.default for k, v in Trainer.model_fields.items()
                       if k not in ("launcher", "nproc_per_node", "python", "kubernetes")}
    assert resource_fields == fields
    assert Trainer(lora_r=4, target_modules="q_proj,v_proj").train_config() == TrainConfig(
        lora_r=4, target_modules="q_proj,v_proj")
    # one declaration, one type: a list of modules is a valid trainer setting, as it is a valid TrainConfig
    from pipelines.environment import build_resources

    built = build_resources({"trainer": {"target_modules": ["q_proj", "v_proj"], "save_every": 5}})["trainer"]
    assert built.train_config() == TrainConfig(target_modules=["q_proj", "v_proj"], save_every=5)
    assert "target_modules is 7" in Trainer(target_modules=7).problems()[0]


@dataclasses.dataclass
class Extended(TrainConfig):
    warmup_ratio: float = 0.1  # a knob added later, declared in the dataclass only


class ExtendedTrainer(settings_resource(Extended, exclude=DPO_ONLY)):
    pass


def test_a_new_train_config_field_is_a_trainer_setting_without_declaring_it_twice():
    assert ExtendedTrainer.model_fields["warmup_ratio"].default == 0.1
    assert ExtendedTrainer(warmup_ratio=0.3, lora_r=8).settings() == Extended(warmup_ratio=0.3, lora_r=8)

    @dg.asset
    def knob(trainer: ExtendedTrainer) -> float:
        return trainer.settings().warmup_ratio

    result = dg.materialize([knob], resources={"trainer": ExtendedTrainer()},
                            run_config={"resources": {"trainer": {"config": {"warmup_ratio": 0.25}}}})
    assert result.output_for_node("knob") == 0.25  # the Dagster launchpad sees the new field too


def test_trainer_commands():
    assert Trainer().command()[1:] == ["-m", "resources.training.entry"]
    cmd = Trainer(launcher="torchrun", nproc_per_node=2, python="/opt/py").command()
    assert cmd[:3] == ["/opt/py", "-m", "torch.distributed.run"] and "--nproc_per_node=2" in cmd
    assert cmd[-2:] == ["-m", "resources.training.entry"]


def test_trainer_refuses_to_start_with_an_invalid_config(llama_dir, tmp_path):
    with pytest.raises(dg.Failure) as info:
        Trainer(lora_r=0, save_every=-1, launcher="slurm").run(
            dg.build_asset_context(), base_model_dir=llama_dir, train_path=tmp_path / "t.parquet",
            output_dir=tmp_path / "out")
    text = info.value.description
    assert "lora_r is 0" in text and "save_every is -1" in text and "launcher 'slurm'" in text
    assert not (tmp_path / "out").exists()


def test_quantization_is_nf4_by_default_and_an_unknown_one_is_refused(llama_dir):
    assert TrainConfig().quantization == "nf4"
    assert TrainConfig(quantization="none").validate(llama_dir) == []
    errors = TrainConfig(quantization="int3").validate(llama_dir)
    assert len(errors) == 1 and "quantization 'int3'" in errors[0]
    assert TrainConfig(quantization="none").config_hash() != TrainConfig().config_hash()
