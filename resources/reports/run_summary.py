"""What a finished pipeline run left behind, in a few lines for the terminal: the end of ``privft run``.

Read from the artifacts only (row ledger, evaluation summary, registry), so it says what is on disk, not what a
step believed it did. An operator reads: how many rows went in and where they went, the best checkpoint beside
the prompting baselines, the forgetting result, the model version, its folder, and whether it serves and why.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from resources.layout import Layout

SHOWN = ("token_f1", "rougeL", "exact_match", "loss")


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def rows_line(datasets: Path) -> str:
    """Every input row's fate from the ledger, and the sizes of the sets built from the kept ones."""
    import pandas as pd
    import pyarrow.parquet as pq

    ledger_path = datasets / "ledger.parquet"
    if not ledger_path.is_file():
        return f"rows: no ledger at {ledger_path}"
    states = pd.read_parquet(ledger_path, columns=["state"])["state"].value_counts()
    parts = [f"{int(states.get(s, 0))} {label}" for s, label in
             (("kept", "kept"), ("duplicate", "duplicates"), ("filtered", "filtered"), ("rejected", "rejected"))]
    line = f"rows: {int(states.sum())} in -> " + ", ".join(parts)
    sizes = [f"{label} {pq.ParquetFile(datasets / name).metadata.num_rows}" for name, label in
             (("train.parquet", "train"), ("eval.parquet", "held-out"), ("eval_unseen.parquet", "unseen products"))
             if (datasets / name).is_file()]
    if sizes:
        line += "; " + ", ".join(sizes)
    return line


def evaluation_lines(summary: dict[str, Any]) -> list[str]:
    """The best checkpoint's headline metrics beside the zero- and few-shot baselines, and its forgetting check."""
    best = summary.get("best")
    if not best:
        return ["best checkpoint: none (every checkpoint flagged or unscored; see evaluation_summary)"]
    checkpoint = next((c for c in summary.get("checkpoints", []) if c["checkpoint"] == best["checkpoint"]), {})
    steps = [c.get("step") or 0 for c in summary.get("checkpoints", []) if c.get("objective", "sft") == "sft"]
    how = (f"DPO step {best.get('dpo_step')} on SFT checkpoint {(summary.get('best_sft') or {}).get('checkpoint')}"
           if best.get("objective") == "dpo" else f"step {best.get('step')} of {max(steps, default=0)}")
    lines = [f"best checkpoint: {best['checkpoint']} ({how}), chosen on {best.get('metric')}"]
    baselines = summary.get("baselines") or {}
    lines.append(f"  {'metric':<12} {'zero-shot':>9} {'few-shot':>9} {'fine-tuned':>10}")
    for m in SHOWN:
        lines.append(f"  {m:<12} {_num((baselines.get('zero_shot') or {}).get(m)):>9} "
                     f"{_num((baselines.get('few_shot') or {}).get(m)):>9} "
                     f"{_num((checkpoint.get('metrics') or {}).get(m)):>10}")
    for name in ("zero_shot", "few_shot"):
        gain = ((summary.get("significance") or {}).get(name) or {}).get(best.get("metric")) or {}
        if gain:
            lines.append(f"  gain over {name.replace('_', '-')}: {gain['diff']:+.3f} "
                         f"[{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}] (95 % CI, {gain['n']} items)")
    unseen = checkpoint.get("metrics_unseen") or {}
    if unseen:
        base_unseen = summary.get("baselines_unseen") or {}
        metric = best.get("metric")
        lines.append(f"  unseen products, {metric}: zero-shot {_num((base_unseen.get('zero_shot') or {}).get(metric))}"
                     f", few-shot {_num((base_unseen.get('few_shot') or {}).get(metric))}"
                     f", fine-tuned {_num(unseen.get(metric))}")
    forgetting = checkpoint.get("forgetting") or {}
    if forgetting:
        verdict = "FLAGGED" if forgetting.get("flagged") else "not flagged"
        kind = ("smoke check on the generated toy benchmark, not a forgetting check"
                if forgetting.get("kind") == "smoke" else f"{forgetting.get('kind', 'check')}")
        lines.append(f"forgetting: {verdict}: {forgetting.get('summary', '')} ({kind})")
    return lines


def training_lines(run: dict[str, Any]) -> list[str]:
    """How the current SFT run ended (``adapters/latest.json``): why it stopped, and what it handed on."""
    reason = run.get("stop_reason")
    if not reason:
        return []
    line = f"training: {reason}"
    if reason.startswith("early stop"):
        line += "; only that best checkpoint was evaluated"
    if run.get("resumed_from_steps"):
        line += f"; resumed after an interruption from step(s) {', '.join(map(str, run['resumed_from_steps']))}"
    return [line]


def registry_lines(registry_dir: Path) -> list[str]:
    """The newest version (what this run published or found already published), where it is, and whether it
    is the promoted one, with the gate's reasons either way."""
    from resources.publishing.registry import Registry

    registry = Registry(registry_dir.parent, registry_dir.name)
    versions = [v for v in registry.versions() if (registry.path(v) / "manifest.json").is_file()]
    if not versions:
        return [f"model: no version published under {registry_dir}"]
    # the same choice promoted_model makes: the version whose manifest was written last
    version = max(versions, key=lambda v: (registry.path(v) / "manifest.json").stat().st_mtime)
    folder = registry.path(version)
    lines = [f"model: {registry.model_name} {version}",
             f"  at {folder} (merged/ for transformers or vLLM, adapter/, MODEL_CARD.md)"]
    exports = registry_dir.parent.parent / "exports" / registry.model_name / version  # exporter.export_dir
    for gguf in sorted(exports.glob("*/*.gguf")):
        lines.append(f"  GGUF {gguf.parent.name}: {gguf} (ollama create {registry.model_name} -f {gguf.parent / 'Modelfile'})")
    pointer = registry.pointer() or {}
    if pointer.get("version") == version:
        lines.append(f"promoted: yes (since {pointer.get('at', '?')[:16].replace('T', ' ')} UTC)")
        lines.append(f"  {pointer.get('reason', '')}")
        return lines
    gates = [e for e in registry.history() if e.get("event") == "gate" and e.get("version") == version]
    why = "; ".join(gates[-1].get("reasons", [])) if gates else "no gate decision recorded"
    serving = pointer.get("version") or "nothing"
    lines.append(f"promoted: NO, {serving} stays promoted")
    lines.append(f"  {why}")
    return lines


def run_summary(artifact_root: Path | str, model_name: str, ran: list[str], seconds: float,
                incoming: Path | str | None = None) -> list[str]:
    """The end-of-run report as lines; ``ran`` names the runs this pipeline executed, ``incoming`` is the folder
    that takes new drops."""
    layout = Layout(artifact_root)
    lines = [f"pipeline complete in {seconds:.0f}s: {', '.join(ran)}; artifacts under {layout.root}"]
    lines.append(rows_line(layout.datasets()))
    lines += training_lines(_read(layout.current_run()))
    lines += evaluation_lines(_read(layout.evaluation_summary()))
    lines += registry_lines(layout.registry(model_name))
    if incoming is not None:
        lines.append(f"new data: drop files into {Path(incoming) / '<source>'}/, then privft run again (or let the "
                     "sensors of make ui take them)")
    lines.append("talk to the promoted version: privft serve (OpenAI-compatible, http://127.0.0.1:8000/v1)")
    lines.append("runs and their logs: privft runs, make ui (http://127.0.0.1:3000), or privft run --verbose")
    return lines
