"""How a training run ended, read from its folder: finished or not, why it stopped, its held-out loss curve,
the interruptions it resumed from, and which of its checkpoints go on to evaluation.

The rule for a run that early stopping ended: only its best checkpoint (lowest held-out loss) is handed on to
evaluation. Every other measurement of the run was higher, and stopping is the judgement that more steps would
not bring it meaningfully lower, so ``evaluation_summary`` (which picks the best evaluated checkpoint by the primary
generation metric, leaving out any flagged for forgetting) can only choose that one, or none when the forgetting
check flags it, and that is what is merged and published. The later checkpoints stay on disk for resume only.
A run that ended at ``max_steps`` hands on every checkpoint as before (with ``eval_loss_every`` that includes the
one saved at each new best held-out loss) and the summary chooses among them by its metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.training.checkpointing import latest_checkpoint, list_checkpoints, read_state
from resources.training.early_stopping import MAX_STEPS_REACHED, stopped_early
from resources.training.train_log import TRAIN_LOG, read_records


def last_state(run_dir: Path | str) -> dict[str, Any]:
    """The trainer state of the run's last complete checkpoint; {} before the first."""
    last = latest_checkpoint(run_dir)
    return read_state(last) if last is not None else {}


def is_finished(run_dir: Path | str, max_steps: int) -> bool:
    """Trained to ``max_steps`` or stopped early: nothing left to train (a resume would return at once)."""
    state = last_state(run_dir)
    return bool(state) and (state.get("step", 0) >= max_steps or stopped_early(state))


def handed_on_steps(run_dir: Path | str) -> list[int]:
    """Steps of the checkpoints that become evaluation partitions, oldest first (see the module's rule)."""
    steps = [read_state(p)["step"] for p in list_checkpoints(run_dir)]
    state = last_state(run_dir)
    if stopped_early(state):
        return [s for s in steps if s == state["heldout"]["best_step"]]
    return steps


def outcome(run_dir: Path | str) -> dict[str, Any]:
    """Plain values for the run's record and asset metadata: why it stopped, its best held-out loss, and the
    checkpoints it resumed from after an interruption (a kill, a lost node)."""
    state = last_state(run_dir)
    records = read_records(Path(run_dir) / TRAIN_LOG)
    # each process start has its own run_id: a change of run_id is a resume from the checkpoint before it
    resumed = [r["step"] - 1 for prev, r in zip(records, records[1:]) if r.get("run_id") != prev.get("run_id")]
    reason = state.get("stop_reason") or (MAX_STEPS_REACHED if state and records and
                                          state.get("step") == records[-1].get("max_steps") else "not finished")
    heldout = state.get("heldout") or {}
    out: dict[str, Any] = {"stop_reason": reason, "resumed_from_steps": resumed}
    if heldout.get("best_step") is not None:
        out.update(best_heldout_step=heldout["best_step"], best_heldout_loss=heldout["best_loss"],
                   heldout_evaluations=len(heldout.get("history", [])))
    return out


def heldout_curve_md(run_dir: Path | str) -> str:
    """Training and held-out loss per step, the best held-out point marked, as Markdown with an embedded PNG;
    "" when the run measured no held-out loss."""
    from resources.reports.plots import line_chart_md

    records = read_records(Path(run_dir) / TRAIN_LOG)
    measured = [r for r in records if "heldout_loss" in r]
    if not measured:
        return ""
    series = {"training loss": ([r["step"] for r in records], [r["loss"] for r in records]),
              "held-out loss": ([r["step"] for r in measured], [r["heldout_loss"] for r in measured])}
    best = (last_state(run_dir).get("heldout") or {})
    if best.get("best_step") is not None:
        series[f"best (step {best['best_step']})"] = ([best["best_step"]], [best["best_loss"]])
    return line_chart_md(series, title="Held-out loss while training", ylabel="loss")
