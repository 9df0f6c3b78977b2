"""The module names of a model folder, for checking LoRA targets before any weights are loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def model_module_names(base: Path, trust_remote_code: bool = False) -> tuple[Any, set[str], set[str]]:
    """(config, leaf names of linear layers except the output head, full names of every module LoRA can wrap).

    A LoRA target matches a module whose full name equals it or ends with ``.<target>`` (peft's rule).

    The model is built on the meta device, so this is cheap even for a 70B model.
    """
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    model_cfg = AutoConfig.from_pretrained(str(base), trust_remote_code=trust_remote_code)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(model_cfg, trust_remote_code=trust_remote_code)
    output = model.get_output_embeddings()
    linear, adaptable = set(), set()
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            adaptable.add(name)
            if isinstance(module, torch.nn.Linear) and module is not output:
                linear.add(name.rsplit(".", 1)[-1])
    return model_cfg, linear, adaptable
