"""Early stopping on held-out loss: when to measure, what counts as better, when to stop, and why a run ended.

The decision's whole state (every measurement, the best loss and its step, the evaluations since) lives in the
trainer state saved with each checkpoint. A run killed and resumed from a checkpoint re-runs the steps after it,
measurements included, so it stops where the uninterrupted run would have; a run that stopped early resumes to
nothing (its last checkpoint holds the stop reason).

Plain Python, no torch: config.py checks the settings with ``early_stopping_problems``.
"""

from __future__ import annotations

from typing import Any

MAX_STEPS_REACHED = "max_steps reached"
EARLY_STOP = "early stop"


def early_stopping_problems(cfg) -> list[str]:
    """What is wrong with the early-stopping fields of a TrainConfig, as sentences that say what to change."""
    e = []
    every, patience, delta = cfg.eval_loss_every, cfg.early_stopping_patience, cfg.early_stopping_min_delta
    if not isinstance(every, int) or every < 0:
        e.append(f"eval_loss_every is {every!r}: it must be 0 (off) or a number of steps between measurements")
    elif every and cfg.objective == "dpo":
        e.append("eval_loss_every is for SFT runs (DPO scores its held-out pairs per checkpoint): set it to 0 "
                 "under dpo")
    if not isinstance(patience, int) or patience < 0:
        e.append(f"early_stopping_patience is {patience!r}: it must be 0 (measure, never stop) or the number of "
                 "measurements without improvement that end the run (typical: 3-5)")
    if not (isinstance(delta, (int, float)) and delta >= 0):
        e.append(f"early_stopping_min_delta is {delta!r}: it must be 0 or more (how much lower than the best "
                 "a held-out loss must be to count as an improvement)")
    if every == 0 and (patience or delta):
        e.append("early_stopping_patience and early_stopping_min_delta need eval_loss_every > 0: early stopping "
                 "watches the held-out loss, which is only measured every eval_loss_every steps")
    return e


def stopped_early(state: dict[str, Any]) -> bool:
    return str(state.get("stop_reason", "")).startswith(EARLY_STOP)


class EarlyStopping:
    """The rule: the best is the lowest held-out loss so far (each new one gets a checkpoint); a measurement counts
    as progress when it is below the best before it by more than ``min_delta``, and the run stops after
    ``patience`` measurements in a row without progress (patience 0: never). As in Hugging Face's
    EarlyStoppingCallback, a new best by less than ``min_delta`` is kept as the best but does not reset the count."""

    def __init__(self, every: int, patience: int, min_delta: float):
        self.every, self.patience, self.min_delta = every, patience, min_delta

    @classmethod
    def of(cls, cfg) -> "EarlyStopping":
        return cls(cfg.eval_loss_every, cfg.early_stopping_patience, cfg.early_stopping_min_delta)

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def record(self, state: dict[str, Any], step: int, loss: float) -> dict[str, Any]:
        """Note a measurement in ``state['heldout']``; the fields it adds to the step's log record. A new best
        (``improved``) is what the loop saves a checkpoint for."""
        h = state.setdefault("heldout", {"history": [], "best_step": None, "best_loss": None, "bad_evals": 0})
        h["history"].append([step, loss])
        best = h["best_loss"]
        improved = best is None or loss < best  # NaN is never better
        h["bad_evals"] = 0 if best is None or loss < best - self.min_delta else h["bad_evals"] + 1
        if improved:
            h.update(best_step=step, best_loss=loss)
        return {"heldout_loss": loss, "improved": improved, "best_heldout_loss": h["best_loss"],
                "best_heldout_step": h["best_step"], "bad_evals": h["bad_evals"]}

    def stop_reason(self, state: dict[str, Any]) -> str | None:
        """Why the run ends now, or None while it goes on."""
        h = state.get("heldout")
        if not self.patience or not h or h["bad_evals"] < self.patience:
            return None
        by = f" by more than {self.min_delta:g}" if self.min_delta else ""
        return (f"{EARLY_STOP}: held-out loss did not improve{by} for {self.patience} evaluations "
                f"(best {h['best_loss']:.4f} at step {h['best_step']})")
