"""An asset trains through Dagster Pipes: progress in the run log, checkpoints as messages, a materialization."""

import base64
import json

import dagster as dg
import pytest

from resources.training.launcher import Trainer, plot_loss_curve
from test_training_loop import write_train_set


@pytest.mark.slow
def test_asset_trains_in_a_pipes_subprocess(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the training process; tiny model, shared cores
    train_path = write_train_set(tmp_path / "train.parquet", 24)
    out = tmp_path / "adapters" / "run"
    seen = {}

    @dg.asset
    def qlora_adapter(context: dg.AssetExecutionContext, trainer: Trainer) -> dg.MaterializeResult:
        invocation = trainer.run(context, base_model_dir=tiny_model_dir, train_path=train_path, output_dir=out)
        seen["messages"] = invocation.get_custom_messages()
        mr = invocation.get_materialize_result()
        curve = plot_loss_curve(out / "train_log.jsonl")
        return dg.MaterializeResult(metadata={**mr.metadata, "loss_curve": dg.MetadataValue.md(curve)},
                                    data_version=mr.data_version)

    instance = dg.DagsterInstance.ephemeral()
    trainer = Trainer(max_steps=4, save_every=2, micro_batch_size=2, max_seq_len=256, warmup_steps=1)
    result = dg.materialize([qlora_adapter], resources={"trainer": trainer}, instance=instance)
    assert result.success

    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    for step in range(1, 5):
        assert any(m.startswith(f"step {step}/4 loss ") and "tokens/s" in m and "eta" in m for m in messages)
    assert any(m.startswith("checkpoint step 4 loss") for m in messages)

    assert [(m["event"], m["step"]) for m in seen["messages"]] == [("checkpoint", 2), ("checkpoint", 4)]
    assert all(m["path"].startswith(str(out)) and m["loss"] > 0 for m in seen["messages"])

    (mat,) = result.asset_materializations_for_node("qlora_adapter")
    md = mat.metadata
    assert md["steps"].value == 4 and md["final_loss"].value > 0 and md["tokens"].value > 0
    assert [c["step"] for c in md["checkpoints"].value] == [2, 4]
    assert md["final_checkpoint"].value == str(out / "checkpoint-000004")
    assert mat.tags["dagster/data_version"] == md["adapter_hash"].value
    assert md["loss_curve"].value.startswith("![training loss](data:image/png;base64,")


def test_loss_curve_is_an_embedded_png(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 5 - s / 10, "lr": 1e-3}) + "\n" for s in range(1, 9)))
    md = plot_loss_curve(log)
    png = base64.b64decode(md.split("base64,", 1)[1].rstrip(")"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    log.write_text("")
    assert "no training steps" in plot_loss_curve(log)
