"""The preference-training half of the real-model proof: what DPO did on top of the chosen SFT checkpoint.

Two questions, both answered from files the pipeline wrote:
* held-out preference pairs: does the model prefer the expert's answer over the rejected one more often after DPO?
  ``likelihood_accuracy`` (the model alone: log p(chosen) > log p(rejected)) for the SFT checkpoint and each DPO
  checkpoint, and ``reward_accuracy`` / ``reward_margin`` (DPO's implicit reward against the SFT policy).
* generation on the held-out chat set: token F1, ROUGE-L and exact match of SFT vs SFT+DPO, with the paired
  bootstrap interval of each DPO checkpoint's difference from SFT, and MMLU accuracy of both.
"""

from __future__ import annotations

import json
from pathlib import Path

from resources.evaluation.bootstrap import METRICS as PAIRED, paired_bootstrap, read_scores
from resources.layout import Layout
from resources.training.runs import preference_run

SHOWN = ("token_f1", "rougeL", "exact_match")


def preference_proof(root: Path, summary: dict) -> dict | None:
    """None when the run trained no DPO adapter."""
    layout = Layout(root)
    run = preference_run(layout)
    if not run.get("checkpoints"):
        return None
    report_path = layout.preference_evaluation(run["run_key"]) / "report.json"
    pairs = json.loads(report_path.read_text()) if report_path.is_file() else {}
    by_name = {c["checkpoint"]: c for c in summary.get("checkpoints", [])}
    sft = by_name.get((summary.get("best_sft") or {}).get("checkpoint"))
    if sft is None:
        return None
    sft_scores = read_scores(layout.evaluation(sft["checkpoint"]) / "predictions.jsonl")
    generation = [_row("SFT", sft, None)]
    for c in summary["checkpoints"]:
        if c.get("objective") == "dpo":
            tuned = read_scores(layout.evaluation(c["checkpoint"]) / "predictions.jsonl")
            ids = sorted(set(tuned) & set(sft_scores))
            gain = {m: paired_bootstrap([tuned[i][m] for i in ids], [sft_scores[i][m] for i in ids])
                    for m in PAIRED} if ids else {}
            generation.append(_row(f"SFT+DPO step {c['step'] - (sft.get('step') or 0)}", c, gain))
    return {"init_checkpoint": run.get("init_checkpoint"), "beta": pairs.get("beta"),
            "held_out_pairs": (pairs.get("reference") or {}).get("pairs"), "skipped": pairs.get("skipped"),
            "sft_pairs": pairs.get("reference"), "dpo_pairs": pairs.get("checkpoints", []),
            "generation": generation, "chosen": (summary.get("best") or {}).get("checkpoint")}


def _row(name: str, c: dict, gain: dict | None) -> dict:
    return {"model": name, "checkpoint": c["checkpoint"], **{m: c["metrics"].get(m) for m in SHOWN},
            "mmlu": (c.get("forgetting") or {}).get("checkpoint_accuracy"), "vs_sft": gain}


def _f(x, spec=".3f") -> str:
    return "–" if x is None else format(x, spec)


def render_preference(p: dict) -> str:
    lines = ["", f"DPO from {p['init_checkpoint']} (beta {p['beta']}), {p['held_out_pairs']} held-out preference "
                 "pairs", "", "| model | likelihood accuracy | reward accuracy | reward margin |", "|---|---|---|---|"]
    if p["sft_pairs"]:
        lines.append(f"| SFT | {_f(p['sft_pairs']['likelihood_accuracy'])} | – | – |")
    for r in p["dpo_pairs"]:
        lines.append(f"| SFT+DPO step {r['step']} | {_f(r['likelihood_accuracy'])} | {_f(r['reward_accuracy'])} "
                     f"| {_f(r['reward_margin'], '+.3f')} |")
    lines += ["", "| model | token F1 | ROUGE-L | exact match | MMLU |", "|---|---|---|---|---|"]
    for g in p["generation"]:
        lines.append(f"| {g['model']} | {_f(g['token_f1'])} | {_f(g['rougeL'])} | {_f(g['exact_match'])} "
                     f"| {_f(g['mmlu'], '.4f')} |")
    for g in p["generation"]:
        for m, b in (g["vs_sft"] or {}).items():
            lines.append(f"{g['model']} vs SFT, {m}: {b['diff']:+.3f} [{b['ci_low']:+.3f}, {b['ci_high']:+.3f}] "
                         "(paired bootstrap 95 %)")
    lines.append(f"promoted candidate: {p['chosen']}")
    return "\n".join(lines)
