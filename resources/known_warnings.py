"""Warnings (and progress bars) the libraries print on every run that say nothing about it: silenced here, narrowly.

Each one is matched by its own message (and category or logger), so any other warning of the same kind still
shows. Called by every entry point that reaches a terminal: the ``privft`` command, the training process, the
code location that ``dagster dev`` loads. Nothing in here imports the libraries it quiets.
"""

from __future__ import annotations

import logging
import os
import warnings

# (message regex, category): harmless, and repeated once per model load or per run
KNOWN_WARNINGS = (
    # transformers renamed gradient checkpointing to activation checkpointing; peft still reads the old attribute
    # name, which works until transformers 6 (requirements.lock pins 5.x)
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning),
    (r"`gradient_checkpointing_enable` is deprecated", FutureWarning),
    # Dagster's own Pipes client reads this preview attribute; the project never calls it
    (r"Function `PipesMessageReader\.expected_writer_count` is currently in preview", Warning),
)


class _OptionalKernelMissing(logging.Filter):
    """bitsandbytes on an AVX512-BF16 CPU tries the optional `kernels` package (a download from the Hugging Face
    hub, which this project never allows) and falls back to its built-in CPU kernel: same results."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "gemm_4bit_forward from kernels-community" not in str(record.msg)


_FILTER = _OptionalKernelMissing()


def silence_known_warnings() -> None:
    """Install the filters (idempotent)."""
    # Library progress bars (transformers' "Converting and de-quantizing GGUF tensors..." reading a GGUF back)
    # draw over the run's own lines; tqdm reads this at every bar, in this process and the ones it starts.
    os.environ.setdefault("TQDM_DISABLE", "1")
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
