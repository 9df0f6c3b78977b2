"""benchmarks/real_model_report.py prints the unseen-products comparison beside the held-out one."""

import importlib.util
import json
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "real_model_report.py"


def _module():
    spec = importlib.util.spec_from_file_location("real_model_report", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(f1, n):
    return {"token_f1": f1, "rougeL": f1 - 0.01, "exact_match": f1 / 2, "n": n}


def _gain(diff):
    return {"token_f1": {"diff": diff, "ci_low": diff - 0.1, "ci_high": diff + 0.1}}


def _summary(unseen: bool) -> dict:
    mmlu = {"kind": "mmlu", "n": 10, "base_accuracy": 0.3, "checkpoint_accuracy": 0.3, "diff": 0.0, "stderr": 0.01,
            "flagged": False, "summary": ""}
    checkpoint = {"checkpoint": "r1-50", "step": 50, "metrics": _metrics(0.9, 70), "forgetting": mmlu}
    summary = {"best": {"checkpoint": "r1-50", "step": 50}, "checkpoints": [checkpoint],
               "baselines": {"zero_shot": _metrics(0.2, 70), "few_shot": _metrics(0.4, 70)},
               "significance": {"zero_shot": _gain(0.7)}}
    if unseen:
        checkpoint["metrics_unseen"] = _metrics(0.6, 103)
        summary |= {"baselines_unseen": {"zero_shot": _metrics(0.15, 103), "few_shot": _metrics(0.3, 103)},
                    "significance_unseen": {"zero_shot": _gain(0.45)}}
    return summary


def _render(tmp_path, unseen):
    (tmp_path / "evaluations").mkdir(parents=True)
    (tmp_path / "evaluations" / "summary.json").write_text(json.dumps(_summary(unseen)))
    module = _module()
    return module.render(module.proof(tmp_path))


def test_the_unseen_table_and_gains_follow_the_held_out_ones(tmp_path):
    text = _render(tmp_path, unseen=True)
    held, unseen = text.split("unseen products: 103 items")
    assert "| fine-tuned | 0.900 |" in held and "| zero-shot | token_f1 | +0.700 | [+0.600, +0.800] |" in held
    assert "| fine-tuned | 0.600 |" in unseen and "| zero-shot | token_f1 | +0.450 | [+0.350, +0.550] |" in unseen
    assert "MMLU" in unseen  # the forgetting line still closes the report


def test_a_run_without_unseen_products_prints_no_such_part(tmp_path):
    assert "unseen" not in _render(tmp_path, unseen=False)


def _predictions(path: Path, f1s: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": f"i{k}", "token_f1": f, "rougeL": f}) + "\n" for k, f in enumerate(f1s)))


def test_a_dpo_run_adds_preference_accuracy_and_sft_vs_dpo_generation(tmp_path):
    summary = _summary(unseen=False)
    summary["best_sft"] = {"checkpoint": "r1-50", "step": 50}
    summary["checkpoints"].append({"checkpoint": "dpo-x-000020", "step": 70, "objective": "dpo",
                                   "metrics": _metrics(0.8, 70), "forgetting": {"checkpoint_accuracy": 0.29}})
    (tmp_path / "evaluations").mkdir(parents=True)
    (tmp_path / "evaluations" / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "preference_latest.json").write_text(json.dumps(
        {"run_key": "dpo-x", "checkpoints": ["dpo-x-000020"], "init_checkpoint": "r1-50"}))
    report = {"beta": 0.1, "reference": {"pairs": 4, "likelihood_accuracy": 0.5, "reward_accuracy": 0.0,
                                         "reward_margin": 0.0},
              "checkpoints": [{"checkpoint": "dpo-x-000020", "step": 20, "pairs": 4, "likelihood_accuracy": 0.75,
                               "reward_accuracy": 1.0, "reward_margin": 0.42}]}
    (tmp_path / "evaluations" / "preferences" / "dpo-x").mkdir(parents=True)
    (tmp_path / "evaluations" / "preferences" / "dpo-x" / "report.json").write_text(json.dumps(report))
    _predictions(tmp_path / "evaluations" / "r1-50" / "predictions.jsonl", [1.0, 1.0, 0.5, 0.5])
    _predictions(tmp_path / "evaluations" / "dpo-x-000020" / "predictions.jsonl", [0.5, 0.5, 0.5, 0.5])

    module = _module()
    proof = module.proof(tmp_path)
    text = module.render(proof)
    assert "DPO from r1-50 (beta 0.1), 4 held-out preference pairs" in text
    assert "| SFT | 0.500 | – | – |" in text and "| SFT+DPO step 20 | 0.750 | 1.000 | +0.420 |" in text
    assert "| SFT+DPO step 20 | 0.800 | 0.790 | 0.400 | 0.2900 |" in text
    gain = proof["preference"]["generation"][1]["vs_sft"]["token_f1"]
    assert gain["diff"] == -0.25 and gain["n"] == 4 and gain["ci_high"] <= 0  # paired on the same items
    assert "SFT+DPO step 20 vs SFT, token_f1: -0.250" in text


def test_a_run_without_dpo_prints_no_dpo_part(tmp_path):
    assert "DPO" not in _render(tmp_path, unseen=False)
