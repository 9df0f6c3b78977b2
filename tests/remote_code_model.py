"""A model folder that needs its own code to load (``auto_map`` + a model type transformers does not know):
the tiny base with a configuration and modeling file beside its weights. Each process that runs the folder's
code appends its process id to ``marker``, so a test can tell which processes ran it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CONFIGURATION = '''
from transformers import LlamaConfig


class RemoteConfig(LlamaConfig):
    model_type = "privft_remote"
'''

MODELING = '''
import os

from transformers import LlamaForCausalLM

from .configuration_remote import RemoteConfig

with open({marker!r}, "a") as fh:
    fh.write(f"{{os.getpid()}}\\n")


class RemoteForCausalLM(LlamaForCausalLM):
    config_class = RemoteConfig
'''


def remote_code_model(tiny_model_dir: Path, folder: Path, marker: Path) -> Path:
    shutil.copytree(tiny_model_dir, folder)
    (folder / "configuration_remote.py").write_text(CONFIGURATION)
    (folder / "modeling_remote.py").write_text(MODELING.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="privft_remote", architectures=["RemoteForCausalLM"],
                  auto_map={"AutoConfig": "configuration_remote.RemoteConfig",
                            "AutoModelForCausalLM": "modeling_remote.RemoteForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder
