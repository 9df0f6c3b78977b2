"""Load a merged model folder in a separate Python process that never imports peft, the way a consumer will.

The merged folder is meant to stand alone: plain ``transformers`` and safetensors, no adapter library. Loading it
in the publishing process would prove nothing (peft is already imported there, and the model objects are
still in memory), so a fresh ``python -c`` process loads the folder from disk, encodes the fixed prompts with the
folder's own tokenizer and chat template, records its greedy generations and its logits over the sequences the
parent hands it (each prompt with base+adapter's answer), and asserts at the end that ``peft`` was never
imported. It runs in the dtype asked for, on the GPU when there is one, as a consumer would. The parent
compares its outputs with base+adapter (see ``merge.py`` and ``merge_check.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from resources.offline import HUB_OFFLINE
from resources.publishing.prompts import Prompt

_REPO_ROOT = Path(__file__).resolve().parents[2]

# Run as: python -c CHILD merged_dir request.json result.json logits.safetensors
CHILD = r"""
import json, os, sys
merged_dir, request_path, result_path, logits_path, repo_root = sys.argv[1:6]
sys.path.insert(0, repo_root)
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from resources.publishing.prompts import encode_prompt

req = json.load(open(request_path))
dtype = getattr(torch, req["dtype"])
device = "cuda" if torch.cuda.is_available() else "cpu"
tok = AutoTokenizer.from_pretrained(merged_dir, trust_remote_code=req["trust_remote_code"])
model = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=dtype, use_safetensors=True,
                                             trust_remote_code=req["trust_remote_code"]).to(device).eval()
pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
results, logits = [], {}
with torch.no_grad():
    for i, prompt in enumerate(req["prompts"]):
        ids = encode_prompt(tok, prompt)
        x = torch.tensor([ids], device=device)
        seq = torch.tensor([req["sequences"][i]], device=device)
        logits[f"p{i}"] = model(input_ids=seq).logits[0].float().cpu().contiguous()
        out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=req["max_new_tokens"],
                             do_sample=False, num_beams=1, pad_token_id=pad)
        new = out[0, len(ids):].tolist()
        results.append({"input_ids": ids, "new_ids": new, "text": tok.decode(new, skip_special_tokens=True)})
save_file(logits, logits_path)
peft_modules = sorted(m for m in sys.modules if m == "peft" or m.startswith("peft."))
assert "peft" not in sys.modules, f"peft was imported while loading the merged model: {peft_modules[:5]}"
json.dump({"results": results, "peft_imported": bool(peft_modules), "dtype": str(model.dtype),
           "files": sorted(os.listdir(merged_dir))}, open(result_path, "w"))
"""


@dataclass
class FreshLoad:
    ok: bool
    results: list[dict[str, Any]] = field(default_factory=list)
    logits: list[Any] = field(default_factory=list)  # torch tensors [len(sequence), vocab], one per prompt
    error: str = ""


def load_in_fresh_process(merged_dir: Path | str, prompts: Sequence[Prompt], sequences: Sequence[Sequence[int]], *,
                          dtype: str, max_new_tokens: int, trust_remote_code: bool = False,
                          timeout_s: float = 1800) -> FreshLoad:
    """Run ``CHILD`` on ``merged_dir``: greedy generations for ``prompts``, logits over ``sequences`` (one per
    prompt). Never raises for a failed load, it reports it in ``FreshLoad.error``."""
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory(prefix="privft-fresh-") as work:
        work = Path(work)
        request, result, logits = work / "request.json", work / "result.json", work / "logits.safetensors"
        request.write_text(json.dumps({"prompts": [p if isinstance(p, str) else list(p) for p in prompts],
                                       "sequences": [list(map(int, s)) for s in sequences],
                                       "dtype": dtype, "max_new_tokens": max_new_tokens,
                                       "trust_remote_code": trust_remote_code}))
        # Offline like every stage: a merged folder that tries to reach the hub is broken, not slow.
        env = {**os.environ, **HUB_OFFLINE, "TOKENIZERS_PARALLELISM": "false"}
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(merged_dir), str(request), str(result),
                                   str(logits), str(_REPO_ROOT)], env=env, capture_output=True, text=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return FreshLoad(ok=False, error=f"loading {merged_dir} in a fresh process took over {timeout_s:.0f} s")
        if proc.returncode != 0:
            return FreshLoad(ok=False, error=f"fresh process exited {proc.returncode}: {proc.stderr[-2000:]}")
        data = json.loads(result.read_text())
        tensors = load_file(str(logits))
        return FreshLoad(ok=not data["peft_imported"], results=data["results"],
                         logits=[tensors[f"p{i}"] for i in range(len(prompts))])
