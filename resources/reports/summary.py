"""Every checkpoint of the current adapter beside the prompting baselines, and the chosen best checkpoint.

When the datasets hold an unseen-products set, the same comparison on it follows as its own part: the ordinary
held-out set shares products and templates with training, the unseen one shows what is left without them.

With a preference stage, the DPO checkpoints trained from the best SFT checkpoint compete too, on the same held-out
set: the best of SFT and DPO is chosen (``best``), while ``best_sft`` stays the SFT checkpoint DPO starts from. A
DPO checkpoint's ``step`` counts on from its SFT checkpoint's (``dpo_step`` is its own), so ties go to SFT.

The checkpoints compared are those the SFT run handed on (``adapters/latest.json``): of a run that early stopping
ended only its lowest-held-out-loss checkpoint (resources/training/run_outcome.py), which the same rule then
chooses unless the forgetting check flags it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from resources.layout import Layout

HEADLINE = ("exact_match", "token_f1", "rougeL", "loss")


def _read(path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{value:.4f}" if isinstance(value, float) else str(value))


def _label(report: dict[str, Any], best) -> str:
    """A checkpoint's row name: its step, marked when it is the chosen one (first column, so always in view)."""
    mark = " **best**" if best is not None and report["partition"] == best["partition"] else ""
    if report.get("objective") == "dpo":
        return f"DPO step {report.get('dpo_step')}{mark}"
    return f"step {report.get('step')}{mark}"


def summarise(evaluator, layout: Layout, checkpoint_keys: list[str],
              preference_run: dict[str, Any] | None = None) -> dict[str, Any]:
    from resources.reports.markdown import markdown_table
    from resources.reports.plots import line_chart_md

    reports = []
    for key in checkpoint_keys:
        report = _read(layout.evaluation(key) / "report.json")
        if report:
            reports.append({**report, "partition": key})
    baselines = _read(layout.baselines() / "report.json")
    best_sft = evaluator.choose_best(reports)
    reports += _dpo_reports(layout, preference_run or {}, best_sft)
    best = evaluator.choose_best(reports)
    metric = evaluator.primary_metric

    rows = []
    for name in ("zero_shot", "few_shot"):
        overall = (baselines.get(name) or {}).get("overall", {})
        if overall:
            rows.append((f"base {name.replace('_', '-')}", *(_fmt(overall.get(m)) for m in HEADLINE)))
    for r in reports:
        rows.append((_label(r, best), *(_fmt(r.get("overall", {}).get(m)) for m in HEADLINE)))
    # five narrow columns with the best mark in the first: the UI's metadata column is ~500 px wide at 1600 px
    table = markdown_table(["model", *HEADLINE], rows)
    forgetting_rows = [(r.get("step"), r["partition"], _fmt(r.get("forgetting", {}).get("diff")),
                        "FLAGGED" if r.get("forgetting", {}).get("flagged") else "ok") for r in reports]
    checkpoints_md = markdown_table(["step", "checkpoint (partition)", "forgetting Δ", "forgetting"],
                                    forgetting_rows) if reports else "no checkpoint reports"

    series = {}
    steps = [r.get("step") or 0 for r in reports]
    for m in ("exact_match", "token_f1", "rougeL"):
        series[m] = (steps, [r.get("overall", {}).get(m, float("nan")) for r in reports])
    plot = line_chart_md(series, title="Held-out metrics by checkpoint", ylabel="score") if reports else "no reports"
    loss_plot = line_chart_md({"held-out loss": (steps, [r.get("overall", {}).get("loss", float("nan")) for r in reports])},
                              title="Held-out loss by checkpoint", ylabel="loss") if reports else ""

    def brief(r):
        return None if r is None else {
            "checkpoint": r["partition"], "step": r.get("step"), "metric": metric,
            "value": r.get("overall", {}).get(metric), "objective": r.get("objective", "sft"),
            **({"dpo_step": r.get("dpo_step")} if r.get("objective") == "dpo" else {}),
            "forgetting_flagged": bool(r.get("forgetting", {}).get("flagged"))}

    best_json = brief(best)
    significance, significance_unseen, vs_prompting, unseen_md = {}, {}, "", ""
    if best is not None:
        from resources.evaluation.bootstrap import compare_with_baselines

        significance = compare_with_baselines(layout.evaluation(best["partition"]), layout.baselines(),
                                              seed=evaluator.seed)
        # its own metadata entry: appended to the comparison, the UI would fold that table behind a link
        vs_prompting = ("**Best checkpoint vs prompting the base model** (paired bootstrap over the held-out "
                        "items)\n\n" + significance_table(significance))
        significance_unseen = compare_with_baselines(layout.evaluation(best["partition"]), layout.baselines(),
                                                     seed=evaluator.seed, prefix="predictions_unseen")
    baselines_unseen = {n: b.get("overall", {}) for n, b in (baselines.get("unseen") or {}).items()}
    if baselines_unseen or any(r.get("unseen") for r in reports):
        unseen_md = unseen_part(baselines_unseen, reports, best, significance_unseen)
    summary = {
        "primary_metric": metric,
        "best": best_json,
        "best_sft": brief(best_sft),
        "significance": significance,
        "baselines": {n: (baselines.get(n) or {}).get("overall", {}) for n in ("zero_shot", "few_shot")},
        "checkpoints": [{"checkpoint": r["partition"], "step": r.get("step"), "objective": r.get("objective", "sft"),
                         "metrics": r.get("overall", {}),
                         "metrics_unseen": (r.get("unseen") or {}).get("overall", {}),
                         "forgetting": r.get("forgetting", {})} for r in reports],
        # {} when the datasets have no unseen-products set (PrepareConfig.unseen_terms unset)
        "baselines_unseen": baselines_unseen,
        "significance_unseen": significance_unseen,
    }
    return {"json": summary, "table_md": table, "checkpoints_md": checkpoints_md, "plot_md": plot + "\n\n" + loss_plot,
            "vs_prompting_md": vs_prompting, "unseen_md": unseen_md}


def _dpo_reports(layout: Layout, run: dict[str, Any], best_sft) -> list[dict[str, Any]]:
    """Reports of the DPO checkpoints trained from today's best SFT checkpoint (a run from another is stale)."""
    if best_sft is None or run.get("init_checkpoint") != best_sft["partition"]:
        return []
    offset, found = best_sft.get("step") or 0, []
    for key in run.get("checkpoints", []):
        report = _read(layout.evaluation(key) / "report.json")
        if report:
            found.append({**report, "partition": key, "objective": "dpo", "dpo_step": report.get("step"),
                          "step": offset + (report.get("step") or 0)})
    return found


def unseen_part(baselines_unseen: dict[str, Any], reports: list[dict[str, Any]], best, significance_unseen) -> str:
    """The comparison again on the products no training example mentions."""
    from resources.reports.markdown import markdown_table

    rows = [(f"base {n.replace('_', '-')}", *(_fmt(o.get(m)) for m in HEADLINE)) for n, o in baselines_unseen.items()]
    for r in reports:
        overall = (r.get("unseen") or {}).get("overall", {})
        if overall:
            rows.append((_label(r, best), *(_fmt(overall.get(m)) for m in HEADLINE)))
    part = "### Unseen products\n\nItems about products no training example mentions (`eval_unseen.parquet`)\n\n"
    part += markdown_table(["model", *HEADLINE], rows)
    if best is not None:
        part += "\n\n**Best checkpoint vs prompting the base model on unseen products** (paired bootstrap)\n\n"
        part += significance_table(significance_unseen)
    return part


def significance_table(significance: dict[str, Any]) -> str:
    """One row per baseline and metric: both means, the difference and its 95 % interval."""
    from resources.reports.markdown import markdown_table

    rows = []
    for name, by_metric in significance.items():
        for m, b in by_metric.items():
            verdict = "better" if b["excludes_zero"] and b["diff"] > 0 else ("worse" if b["excludes_zero"] else "same")
            rows.append((name.replace("_", "-"), m, f"{b['diff']:+.3f} [{b['ci_low']:+.3f}, {b['ci_high']:+.3f}]",
                         verdict))
    if not rows:
        return "no paired predictions to compare"
    n = sorted({b["n"] for by_metric in significance.values() for b in by_metric.values()})
    # four columns, as narrow as the numbers allow (the values themselves are in the comparison table): wider
    # tables are cut off or wrapped cell by cell in the UI's metadata column
    return (markdown_table(["vs base", "metric", "Δ [95 % CI]", "tuned is"], rows)
            + f"\n\nΔ = fine-tuned − base over {', '.join(map(str, n))} paired items; 'same': the interval holds 0")
