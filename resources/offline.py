"""Privacy by default: the environment switches that keep Hugging Face libraries off the network.

Every process of the project starts with ``OFFLINE_ENV`` (``apply_offline_env``; a value the environment already
has wins), child processes get the ``HUB_OFFLINE`` switches in their environment, and the stages that must never
download (evaluation, the fresh-process load of a merged model) force them (``force_offline``). A configuration
that explicitly asks for a download lifts HF_HUB_OFFLINE for that one call (BaseModel.allow_download).
"""

from __future__ import annotations

import os

# what the libraries read to decide whether they may download anything
HUB_OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_EVALUATE_OFFLINE": "1"}

OFFLINE_ENV = {
    **HUB_OFFLINE,
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_env(switches: dict[str, str] = OFFLINE_ENV) -> None:
    """Set each of ``switches`` that the environment does not set already."""
    for key, value in switches.items():
        os.environ.setdefault(key, value)


def force_offline() -> None:
    """Turn the offline switches on even where the environment turned them off: a stage that must never reach
    the hub (held-out scoring, metric modules) fails on a missing file instead of downloading it."""
    os.environ.update(HUB_OFFLINE)
