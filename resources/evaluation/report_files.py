"""Write an evaluation report folder: report.json, report.md (tables per task and source) and predictions.

The folder is published atomically as a whole (``storage.atomic_dir``), so a reader never sees a report.json
without its predictions. Nothing time-dependent goes in, so evaluating the same checkpoint twice writes the
same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from resources.storage import atomic_dir, write_json, write_jsonl

TABLE_COLUMNS = ("n", "exact_match", "token_f1", "rouge1", "rouge2", "rougeL", "json_parse_rate",
                 "json_field_precision", "json_field_recall", "json_field_f1", "loss", "perplexity")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _cell(text: Any, limit: int = 300) -> str:
    s = str(text)
    s = s if len(s) <= limit else s[:limit] + "…"
    return s.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def metric_table(groups: dict[str, dict[str, Any]], label: str) -> str:
    cols = [c for c in TABLE_COLUMNS if any(c in g for g in groups.values())]
    lines = [f"| {label} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, g in groups.items():
        lines.append(f"| {_cell(name)} | " + " | ".join(_fmt(g.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def tables_markdown(block: dict[str, Any]) -> str:
    """Overall, per task and per source tables of one metric block (see ``scoring.summary_tables``)."""
    return "\n\n".join([metric_table({"all": block["overall"]}, "overall"),
                        "By task:\n\n" + metric_table(block["by_task"], "task"),
                        "By source:\n\n" + metric_table(block["by_source"], "source")])


def examples_markdown(title: str, rows: Sequence[dict[str, Any]], metric: str) -> str:
    lines = [f"### {title}", "", f"| id | task | {metric} | prediction | reference |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {_cell(r['id'])} | {_cell(r['task'])} | {_fmt(r.get(metric))} | {_cell(r['prediction'])} "
                     f"| {_cell(r['reference'])} |")
    return "\n".join(lines)


def forgetting_markdown(f: dict[str, Any]) -> str:
    lines = ["| benchmark | n | excluded | base acc | checkpoint acc | diff | stderr | flagged |", "|---" * 8 + "|"]
    lines.append(f"| {_cell(Path(f['benchmark']).name)} | {f['n']} | {f['excluded']} | {_fmt(f['base_accuracy'])} | "
                 f"{_fmt(f['checkpoint_accuracy'])} | {_fmt(f['diff'])} | {_fmt(f['stderr'])} | "
                 f"{f['benchmark_flagged']} |")
    if "gsm8k" in f:
        g = f["gsm8k"]
        lines.append(f"| GSM8K | {g['n']} | {g['excluded']} | {_fmt(g['base_accuracy'])} | "
                     f"{_fmt(g['checkpoint_accuracy'])} | {_fmt(g['diff'])} | {_fmt(g['stderr'])} | {g['flagged']} |")
    verdict = ("**Forgetting flagged**: " + "; ".join(f["flag_reasons"])) if f["flagged"] else \
        f"No forgetting beyond tolerance {f['tolerance']} (scoring: {f.get('scoring') or f['choice_score']})."
    # first, so nobody reads a smoke check on the generated toy as a forgetting check
    note = f"**{f['kind_note']}**\n\n" if f.get("kind_note") else ""
    return note + "\n".join(lines) + "\n\n" + verdict


def checkpoint_markdown(report: dict[str, Any]) -> str:
    m = report["primary_metric"]
    parts = [f"# Evaluation of {report['checkpoint']} (step {report['step']})", "",
             f"{report['overall']['n']} held-out items from `{report['eval_path']}`; primary metric `{m}` = "
             f"{_fmt(report['overall'].get(m))}. Held-out loss {_fmt(report['overall'].get('loss'))}, "
             f"perplexity {_fmt(report['overall'].get('perplexity'))}.", "", tables_markdown(report), "",
             *_unseen_markdown(report.get("unseen"), report.get("unseen_eval_path")),
             "## Forgetting check", "", forgetting_markdown(report["forgetting"]), "",
             "## Best and worst predictions", "", examples_markdown("Best", report["best"], report["example_metric"]),
             "", examples_markdown("Worst", report["worst"], report["example_metric"])]
    return "\n".join(parts) + "\n"


def baselines_markdown(report: dict[str, Any]) -> str:
    parts = ["# Prompting baselines (base model, no adapter)", ""]
    for name in ("zero_shot", "few_shot"):
        block = report[name]
        title = "Zero-shot" if name == "zero_shot" else f"Few-shot (k={report['few_shot_k']})"
        parts += [f"## {title}", "", tables_markdown(block), "",
                  examples_markdown("Worst", block["worst"], report["example_metric"]), ""]
        parts += _unseen_markdown((report.get("unseen") or {}).get(name), report.get("unseen_eval_path"))
    return "\n".join(parts)


def _unseen_markdown(block: dict[str, Any] | None, path: str | None) -> list[str]:
    """The same tables on the held-out items about products no training example mentions, when there are any."""
    if not block:
        return []
    return [f"### Unseen products: {block['overall']['n']} items from `{path}`", "", tables_markdown(block), ""]


def write_report_dir(out_dir: Path | str, report: dict[str, Any], markdown: str,
                     jsonl: dict[str, Sequence[dict[str, Any]]]) -> Path:
    """Publish ``out_dir`` holding report.json, report.md and one JSONL file per entry of ``jsonl``."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "report.json", report)
        (tmp / "report.md").write_text(markdown, encoding="utf-8")
        for name, rows in jsonl.items():
            write_jsonl(tmp / name, rows)
    return out_dir
