"""The unseen-products set on the tiny model: scored beside the held-out set, compared in the summary, and
without any effect on the held-out numbers or the checkpoint choice."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from resources.evaluation.evaluator import Evaluator
from resources.layout import Layout
from resources.reports.summary import summarise
from resources.schema import make_example
from resources.storage import write_parquet

pytestmark = pytest.mark.slow


def _ex(drop, i, task, user, answer):
    return make_example(source="reviewed_interactions", drop=drop, row=i, task=task,
                        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}])


HELD = [_ex("held", 1, "extract_order", "Order 1: two Bergen lamps broke.", '{"item": "Bergen lamp", "quantity": 2}'),
        _ex("held", 2, "policy_qa", "Can I return a mug?", "Yes, within 30 days.")]
UNSEEN = [_ex("new", 1, "extract_order", "Order 9: one Tromsø desk lamp is missing.",
              '{"item": "Tromsø desk lamp", "quantity": 1}'),
          _ex("new", 2, "warranty", "Is the Hygge scented candle under warranty?", "Candles have no warranty."),
          _ex("new", 3, "policy_qa", "Do Hygge scented candles ship abroad?", "Yes, to most countries.")]
TRAIN = [_ex("train", i, t, f"question {i}", f"answer {i}") for i, t in enumerate(["extract_order", "policy_qa"] * 3, 1)]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    """A zero LoRA adapter and the base model, evaluated with and without eval_unseen.parquet; then summarised."""
    import torch
    from peft import LoraConfig, get_peft_model

    from resources.model.loading import load_causal_lm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("unseen_eval")
    adapter = root / "adapters" / "checkpoint-5"
    get_peft_model(load_causal_lm(tiny_model_dir, device="cpu"),
                   LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")).save_pretrained(adapter)
    data = root / "data"
    write_parquet(data / "eval.parquet", pd.DataFrame(HELD))
    write_parquet(data / "train.parquet", pd.DataFrame(TRAIN))
    ev = Evaluator(max_new_tokens=8, forgetting_sample_size=6, few_shot_k=1)
    layout = Layout(root / "artifacts")
    args = dict(eval_path=data / "eval.parquet", train_path=data / "train.parquet", base_model_dir=tiny_model_dir)
    without = {"checkpoint": ev.evaluate_checkpoint(adapter_dir=adapter, out_dir=root / "plain" / "ckpt", **args),
               "baselines": ev.evaluate_baselines(out_dir=root / "plain" / "base", **args)}
    write_parquet(data / "eval_unseen.parquet", pd.DataFrame(UNSEEN))
    with_unseen = {"checkpoint": ev.evaluate_checkpoint(adapter_dir=adapter, out_dir=layout.evaluation("r1-5"), **args),
                   "baselines": ev.evaluate_baselines(out_dir=layout.baselines(), **args)}
    summary = summarise(ev, layout, ["r1-5"])
    yield {"without": without, "with": with_unseen, "summary": summary, "layout": layout}
    torch.set_num_threads(threads)


def test_reports_score_the_unseen_items_in_blocks_shaped_like_the_held_out_ones(run):
    ckpt, base, layout = run["with"]["checkpoint"], run["with"]["baselines"], run["layout"]
    # the held-out block's keys sit at the top of the report; the unseen block has every one of them
    assert {"overall", "by_task", "by_source", "best", "worst"} <= set(ckpt["unseen"]) <= set(ckpt)
    assert ckpt["unseen"]["overall"]["n"] == 3
    assert set(ckpt["unseen"]["by_task"]) == {"extract_order", "warranty", "policy_qa"}
    assert set(base["unseen"]) == {"zero_shot", "few_shot"} and base["unseen"]["few_shot"]["overall"]["n"] == 3
    assert list(base["unseen_shots"]) == ["warranty"]  # a task the held-out set lacks still gets its shot
    for folder, name in [(layout.evaluation("r1-5"), "predictions_unseen.jsonl"),
                         (layout.baselines(), "predictions_unseen_zero_shot.jsonl"),
                         (layout.baselines(), "predictions_unseen_few_shot.jsonl")]:
        ids = [json.loads(line)["id"] for line in (folder / name).read_text().splitlines()]
        assert sorted(ids) == sorted(e["id"] for e in UNSEEN), name
    # people read report.md (the asset's "report" in the UI): the unseen tables are there too, and only there
    assert "### Unseen products: 3 items" in (layout.evaluation("r1-5") / "report.md").read_text()
    assert (layout.baselines() / "report.md").read_text().count("### Unseen products: 3 items") == 2
    assert "Unseen products" not in (run["layout"].root.parent / "plain" / "ckpt" / "report.md").read_text()


def test_the_held_out_numbers_and_the_forgetting_check_do_not_change(run):
    for kind, blocks in [("checkpoint", ("by_task", "by_source", "best", "worst")),
                         ("baselines", ("zero_shot", "few_shot", "shots"))]:
        before, after = run["without"][kind], run["with"][kind]
        assert "unseen" not in before
        for key in blocks:
            assert after[key] == before[key], (kind, key)
    assert run["with"]["checkpoint"]["overall"] == run["without"]["checkpoint"]["overall"]
    assert run["with"]["checkpoint"]["forgetting"] == run["without"]["checkpoint"]["forgetting"]


def test_summary_compares_the_best_checkpoint_with_prompting_on_unseen_products(run):
    summary, md = run["summary"]["json"], run["summary"]
    assert set(summary["baselines_unseen"]) == {"zero_shot", "few_shot"}
    assert summary["checkpoints"][0]["metrics_unseen"]["n"] == 3
    gain = summary["significance_unseen"]["zero_shot"]["token_f1"]
    assert gain["n"] == 3 and gain["ci_low"] <= gain["diff"] <= gain["ci_high"]
    assert summary["significance"]["zero_shot"]["token_f1"]["n"] == 2  # the held-out pairing is untouched
    assert "### Unseen products" in md["unseen_md"] and "paired bootstrap" in md["unseen_md"]
    assert "paired bootstrap" in md["vs_prompting_md"]
    # each in its own metadata entry: the comparison table stays short enough for the UI to show it inline
    assert "Unseen" not in md["table_md"] and "bootstrap" not in md["table_md"]


def test_reports_go_stale_when_the_unseen_items_change_and_not_before_they_exist(tmp_path, tiny_model_dir):
    from assets.evaluate import _inputs
    from resources.model.handle import BaseModelHandle, folder_version

    base = BaseModelHandle(str(tiny_model_dir), folder_version(tiny_model_dir))
    layout = Layout(tmp_path)
    folder = layout.datasets()
    write_parquet(folder / "eval.parquet", pd.DataFrame(HELD))
    write_parquet(folder / "train.parquet", pd.DataFrame(TRAIN))
    plain = _inputs(layout, base, Evaluator())
    assert "eval_unseen" not in plain  # reports from before unseen products keep their fingerprint
    write_parquet(folder / "eval_unseen.parquet", pd.DataFrame(UNSEEN))
    first = _inputs(layout, base, Evaluator())
    write_parquet(folder / "eval_unseen.parquet", pd.DataFrame(UNSEEN[:2]))
    second = _inputs(layout, base, Evaluator())
    assert first["eval_unseen"] != second["eval_unseen"] and first["eval"] == second["eval"] == plain["eval"]
