"""Print the proof of a real-model run: fine-tuned vs prompting on the held-out set, MMLU before and after.

    python benchmarks/real_model_report.py artifacts-real/smollm2-gpu [--json out.json]

Reads what the pipeline wrote (evaluations/summary.json and the best checkpoint's report), so every figure is
one a user can open and check. Held-out metrics come with the paired bootstrap 95 % interval of the gain;
MMLU with the paired standard error of the change (base and checkpoint answer the same questions). When the run
held out unseen products (prepare.unseen_terms), the same table and gains follow for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded from another folder
from real_model_preference import preference_proof, render_preference
from resources.layout import Layout


METRICS = ("token_f1", "rougeL", "exact_match")


def _held_out(baselines: dict, tuned: dict) -> dict:
    return {name: {m: baselines[name].get(m) for m in METRICS} for name in ("zero_shot", "few_shot")} | {
        "fine_tuned": {m: tuned.get(m) for m in METRICS}}


def proof(root: Path) -> dict:
    summary = json.loads(Layout(root).evaluation_summary().read_text())
    best = summary.get("best") or {}
    checkpoint = next((c for c in summary["checkpoints"] if c["checkpoint"] == best.get("checkpoint")), None)
    if checkpoint is None:
        raise SystemExit(f"{root}: no best checkpoint in evaluations/summary.json")
    forgetting = checkpoint["forgetting"]
    p = {"checkpoint": best["checkpoint"], "step": best.get("step"), "n_held_out": checkpoint["metrics"].get("n"),
         "held_out": _held_out(summary["baselines"], checkpoint["metrics"]),
         "gain": summary.get("significance", {}),
         "mmlu": {k: forgetting.get(k) for k in ("kind", "n", "base_accuracy", "checkpoint_accuracy", "diff",
                                                  "stderr", "flagged", "summary")}}
    unseen = checkpoint.get("metrics_unseen") or {}
    if unseen and summary.get("baselines_unseen"):
        p["unseen"] = {"n": unseen.get("n"), "held_out": _held_out(summary["baselines_unseen"], unseen),
                       "gain": summary.get("significance_unseen", {})}
    p["preference"] = preference_proof(root, summary)
    return p


def _tables(held_out: dict, gain: dict) -> list[str]:
    lines = ["| model | token F1 | ROUGE-L | exact match |", "|---|---|---|---|"]
    for name in ("zero_shot", "few_shot", "fine_tuned"):
        h = held_out[name]
        lines.append(f"| {name.replace('_', '-')} | {h['token_f1']:.3f} | {h['rougeL']:.3f} | {h['exact_match']:.3f} |")
    lines += ["", "| fine-tuned vs | metric | gain | 95 % CI (paired bootstrap) |", "|---|---|---|---|"]
    for name, by_metric in gain.items():
        for m, g in by_metric.items():
            lines.append(f"| {name.replace('_', '-')} | {m} | {g['diff']:+.3f} | [{g['ci_low']:+.3f}, {g['ci_high']:+.3f}] |")
    return lines


def render(p: dict) -> str:
    lines = [f"best checkpoint {p['checkpoint']} (step {p['step']}), {p['n_held_out']} held-out items", "",
             *_tables(p["held_out"], p["gain"])]
    if "unseen" in p:
        u = p["unseen"]
        lines += ["", f"unseen products: {u['n']} items about products no training example mentions", "",
                  *_tables(u["held_out"], u["gain"])]
    m = p["mmlu"]
    lines += ["", f"MMLU ({m['kind']}, n={m['n']}): base {m['base_accuracy']:.4f} -> fine-tuned "
                  f"{m['checkpoint_accuracy']:.4f}, change {100 * m['diff']:+.2f} points "
                  f"± {100 * m['stderr']:.2f} (paired SE); flagged: {m['flagged']}"]
    if p.get("preference"):
        lines.append(render_preference(p["preference"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the run's artifact root")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    p = proof(args.root)
    print(render(p))
    if args.json:
        args.json.write_text(json.dumps(p, indent=2))


if __name__ == "__main__":
    main()
