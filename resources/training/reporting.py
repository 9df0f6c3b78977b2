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
