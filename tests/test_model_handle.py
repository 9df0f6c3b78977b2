"""The base model handle: resolved once by the base_model asset, and its trust settings reach the trainer (a
separate process) and the evaluator, both ways: an untrusted model that needs its own code is refused, a trusted
one trains and is evaluated with that code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from remote_code_model import remote_code_model
from resources.model.base_model import BaseModel
from resources.model.handle import BaseModelHandle, folder_version
from resources.training.launcher import Trainer

REPO = Path(__file__).resolve().parents[1]


def test_resolve_writes_what_every_stage_reads(tiny_model_dir, tmp_path):
    base = BaseModel(name=str(tiny_model_dir), trust_remote_code=True, allow_pickle=True)
    handle = base.resolve(tmp_path / "unused")  # a local folder is used where it is
    assert handle == BaseModelHandle(path=str(Path(tiny_model_dir).resolve()), version=folder_version(tiny_model_dir),
                                     trust_remote_code=True, allow_pickle=True, name=str(tiny_model_dir))
    handle.write(tmp_path / "handle.json")
    assert BaseModelHandle.read(tmp_path / "handle.json") == handle
    assert handle.load_options() == {"trust_remote_code": True, "allow_pickle": True}
    with pytest.raises(FileNotFoundError, match="materialise the base_model asset"):
        BaseModelHandle.read(tmp_path / "missing.json")


def test_an_untrusted_model_with_its_own_code_is_refused_by_trainer_and_evaluator(tiny_model_dir, tmp_path):
    from test_evaluation_unseen import HELD, TRAIN

    import pandas as pd

    from resources.evaluation.evaluator import Evaluator
    from resources.storage import write_parquet

    marker = tmp_path / "code-ran"
    folder = remote_code_model(tiny_model_dir, tmp_path / "remote", marker)
    handle = BaseModelHandle(path=str(folder), version=folder_version(folder))  # trust_remote_code: false
    with pytest.raises(dg.Failure) as refused:
        Trainer(max_steps=1).run(dg.build_asset_context(), base_model_dir=handle.folder,
                                 train_path=tmp_path / "train.parquet", output_dir=tmp_path / "out",
                                 **handle.load_options())
    assert "set base.trust_remote_code: true" in refused.value.description
    assert not (tmp_path / "out").exists()

    write_parquet(tmp_path / "eval.parquet", pd.DataFrame(HELD))
    write_parquet(tmp_path / "train.parquet", pd.DataFrame(TRAIN))
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        Evaluator(max_new_tokens=4).evaluate_baselines(
            base_model_dir=handle.folder, eval_path=tmp_path / "eval.parquet", train_path=tmp_path / "train.parquet",
            out_dir=tmp_path / "baselines", **handle.load_options())
    assert not marker.exists() and not (tmp_path / "baselines").exists()


TRUSTED = """
import json, os, sys
sys.path[:0] = [{repo!r}, {tests!r}]
import dagster as dg
import pandas as pd
from test_evaluation_unseen import HELD, TRAIN
from test_training_loop import write_train_set
from resources.evaluation.evaluator import Evaluator
from resources.model.handle import BaseModelHandle
from resources.storage import write_parquet
from resources.training.launcher import Trainer

handle = BaseModelHandle.read({handle!r})
tmp = {tmp!r}
train_path = write_train_set(os.path.join(tmp, "sft.parquet"), 8)

@dg.asset
def qlora_adapter(context, trainer: Trainer):
    return trainer.run(context, base_model_dir=handle.folder, train_path=train_path,
                       output_dir=os.path.join(tmp, "out"), **handle.load_options()).get_materialize_result()

trainer = Trainer(max_steps=1, save_every=1, micro_batch_size=2, max_seq_len=128, warmup_steps=0, quantization="none")
trained = dg.materialize([qlora_adapter], resources={{"trainer": trainer}}).success
write_parquet(os.path.join(tmp, "eval.parquet"), pd.DataFrame(HELD))
write_parquet(os.path.join(tmp, "train.parquet"), pd.DataFrame(TRAIN))
report = Evaluator(max_new_tokens=4, few_shot_k=1).evaluate_baselines(
    base_model_dir=handle.folder, eval_path=os.path.join(tmp, "eval.parquet"),
    train_path=os.path.join(tmp, "train.parquet"), out_dir=os.path.join(tmp, "baselines"), **handle.load_options())
print(json.dumps({{"pid": os.getpid(), "trained": trained, "scored": report["zero_shot"]["overall"]["n"]}}))
"""


@pytest.mark.slow
def test_a_trusted_model_with_its_own_code_trains_and_is_evaluated_with_it(tiny_model_dir, tmp_path):
    marker = tmp_path / "code-ran"
    folder = remote_code_model(tiny_model_dir, tmp_path / "remote", marker)
    handle = BaseModel(name=str(folder), trust_remote_code=True).resolve(tmp_path / "unused")
    handle.write(tmp_path / "handle.json")
    # its own HF_HOME: the folder's code is copied into HF_MODULES_CACHE, which must not be the user's
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    script = TRUSTED.format(repo=str(REPO), tests=str(REPO / "tests"), handle=str(tmp_path / "handle.json"),
                            tmp=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["trained"] and result["scored"] == 2  # both held-out items
    assert (tmp_path / "out" / "checkpoint-000001").is_dir()
    # the model's code ran in the training process (launched through Pipes) as well as in the evaluating one
    ran_in = {int(p) for p in marker.read_text().split()}
    assert result["pid"] in ran_in and len(ran_in) >= 2, (ran_in, result["pid"])
