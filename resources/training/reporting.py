"""Where training progress goes: stdout when run by hand, Dagster Pipes when launched by Dagster.

The training loop calls a ``Reporter`` and never knows which; only rank 0 of a distributed run reports.
"""

from __future__ import annotations

import sys
from typing import Any


def format_step(r: dict[str, Any]) -> str:
    return (f"step {r['step']}/{r['max_steps']} loss {r['loss']:.4f} lr {r['lr']:.2e} "
            f"tokens/s {r['tokens_per_s']:.0f} eta {r['eta_s']:.0f}s")


class Reporter:
    """Prints to stdout (flushed, so a parent process sees each line as it happens)."""

    def log(self, message: str) -> None:
        print(message, file=sys.stdout, flush=True)

    def step(self, record: dict[str, Any]) -> None:
        self.log(format_step(record))

    def checkpoint(self, info: dict[str, Any]) -> None:
        self.log(f"checkpoint step {info['step']} loss {info['loss']:.4f} at {info['path']}")

    def heldout(self, r: dict[str, Any]) -> None:
        """A held-out loss measurement (early_stopping.py): the step's record with its heldout_* fields."""
        self.log(f"held-out loss {r['heldout_loss']:.4f} at step {r['step']}" + (
            " (new best)" if r["improved"] else f" (best {r['best_heldout_loss']:.4f} at step "
                                                 f"{r['best_heldout_step']}, {r['bad_evals']} without improvement)"))


class SilentReporter(Reporter):
    """For the ranks other than 0 of a distributed run."""

    def log(self, message: str) -> None:
        pass


class PipesReporter(Reporter):
    """Progress lines into the Dagster run log; each checkpoint also as a custom message the launcher collects."""

    def __init__(self, pipes):
        self.pipes = pipes

    def log(self, message: str) -> None:
        self.pipes.log.info(message)

    def checkpoint(self, info: dict[str, Any]) -> None:
        super().checkpoint(info)
        self.pipes.report_custom_message({"event": "checkpoint", **info})

    def heldout(self, r: dict[str, Any]) -> None:
        super().heldout(r)
        self.pipes.report_custom_message({"event": "heldout_loss", "step": r["step"], "loss": r["heldout_loss"],
                                          "best_loss": r["best_heldout_loss"], "best_step": r["best_heldout_step"],
                                          "improved": r["improved"]})
