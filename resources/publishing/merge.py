"""Merge a LoRA adapter into its base model, save a standalone safetensors folder, and verify it.

The base is reloaded in fp32, never in 4-bit: merging into NF4 weights would round the adapter's update away
and bake quantisation error into the published weights. ``W + s·B·A`` is computed in fp32 and rounded once to
the published ``dtype`` (bf16 for real models), which loses less of a small LoRA update than merging in bf16.
Every merge is verified before the folder becomes visible:

1. logits: the merged folder, reloaded from disk in a fresh process and run in ``dtype``, is compared with
   base+adapter (unmerged peft, fp32) at every position of the sample prompts and base+adapter's answers, by
   the statistics and checks of ``merge_check.py``. A 16-bit merge is held to the rounding that running the
   unmerged adapter on the same-precision base costs anyway; a float32 merge must also keep its max |logit
   difference| within ``tolerance`` (only summation order differs);
2. standalone: that fresh process loads the folder with plain transformers and never imports peft;
3. behaviour: its greedy generations for the prompts equal base+adapter's token for token, except where they
   first part at a near-tie (base+adapter's top two logits within twice what the precision can move a logit:
   ``tolerance`` in float32, the rounding-only max |logit difference| in 16 bits).

All statistics are written to ``merge_verification.json``. A merge that fails verification raises
``MergeVerificationError`` and leaves nothing at ``out_dir``.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from resources.model.loading import check_weight_files, load_adapter, load_causal_lm, load_tokenizer
from resources.publishing.adapter_files import copy_adapter
from resources.publishing.fresh_load import load_in_fresh_process
from resources.publishing.merge_check import judge
from resources.publishing.prompts import DEFAULT_PROMPTS, Prompt, encode_prompt, prompt_label
from resources.storage import atomic_dir, write_json

DTYPES = ("float32", "bfloat16", "float16")
# Max |logit difference| merged vs base+adapter for a float32 merge, which only summation order may change
# (measured 7e-7 on the tiny model, 1.5e-5 on a random 0.8B Llama on a GPU, 8e-5 on SmolLM2-135M). 16-bit merges
# are judged against their own rounding instead (merge_check.py), so ``tolerance`` does not apply to them.
FLOAT32_TOLERANCE = 1e-4
VERIFICATION_FILE = "merge_verification.json"
# Files of the base folder that travel with the merged weights (the licence must, the rest is documentation).
BASE_EXTRAS = ("LICENSE", "LICENSE.txt", "LICENSE.md", "NOTICE", "USE_POLICY.md")


class MergeVerificationError(RuntimeError):
    pass


@dataclass
class MergeResult:
    out_dir: str
    adapter_dir: str
    dtype: str
    tolerance: Optional[float]  # bound on max_abs_diff, float32 merges only
    max_abs_diff: float  # max |logits(merged) - logits(base+adapter)|, kept for continuity
    adapter_effect: float  # max |logits(base+adapter) - logits(base)|: what a lost adapter would look like
    logits_ok: bool  # every check in ``checks`` passed
    loads_without_peft: bool
    generations_match: bool
    statistics: dict[str, Any] = field(default_factory=dict)  # merge_check.judge: KL, top-1, effect recovered
    checks: dict[str, bool] = field(default_factory=dict)
    generations: list[dict[str, Any]] = field(default_factory=list)
    weight_files: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def verified(self) -> bool:
        return self.logits_ok and self.loads_without_peft and self.generations_match

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verified": self.verified}


def merge_adapter(base_model_dir: Path | str, adapter_dir: Path | str, out_dir: Path | str, *,
                  dtype: str = "float32", max_shard_size: str = "2GB",
                  sample_prompts: Optional[Sequence[Prompt]] = None, tolerance: Optional[float] = None,
                  max_new_tokens: int = 16, adapter_out: Path | str | None = None, trust_remote_code: bool = False,
                  allow_pickle: bool = False, strict: bool = True) -> MergeResult:
    """Write the merged model into ``out_dir`` (atomically) and the adapter into ``adapter_out``
    (default ``out_dir/adapter``). Returns the verification record; raises if ``strict`` and it failed.
    ``tolerance`` bounds max |logit diff| of a float32 merge (default ``FLOAT32_TOLERANCE``)."""
    if dtype not in DTYPES:
        raise ValueError(f"merge dtype {dtype!r}: choose one of {DTYPES} (4-bit is never a merge target)")
    tolerance = None if dtype != "float32" else FLOAT32_TOLERANCE if tolerance is None else float(tolerance)
    prompts = list(sample_prompts or DEFAULT_PROMPTS)
    out_dir = Path(out_dir)
    check_weight_files(base_model_dir, allow_pickle)

    with atomic_dir(out_dir) as tmp:
        staged = copy_adapter(adapter_dir, tmp / "adapter", allow_pickle=allow_pickle)
        reference = _merge_into(tmp, base_model_dir, staged, dtype=dtype, max_shard_size=max_shard_size,
                                prompts=prompts, max_new_tokens=max_new_tokens,
                                trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
        sequences = [r["sequence"] for r in reference]
        rounded = ([r["logits"] for r in reference] if dtype == "float32" else
                   _unmerged_logits(base_model_dir, staged, sequences, dtype=dtype,
                                    trust_remote_code=trust_remote_code, allow_pickle=allow_pickle))
        fresh = load_in_fresh_process(tmp, prompts, sequences, dtype=dtype, max_new_tokens=max_new_tokens,
                                      trust_remote_code=trust_remote_code)
        # Named relative to the folder holding ``out_dir``: the verification file travels with the model, and
        # a publish builds ``out_dir`` inside a temporary folder whose name means nothing afterwards.
        result = _compare(reference, rounded, fresh, prompts, tolerance, dtype=dtype, out_dir=out_dir.name,
                          adapter_dir=os.path.relpath(adapter_out or out_dir / "adapter", out_dir.parent),
                          weight_files=sorted(f.name for f in tmp.iterdir() if f.suffix == ".safetensors"))
        if strict and not result.verified:
            raise MergeVerificationError(
                f"merge of {adapter_dir} into {base_model_dir} in {dtype} failed verification, nothing was "
                f"written to {out_dir}: {_failure_summary(result)}")
        write_json(tmp / VERIFICATION_FILE, result.as_dict())
        if adapter_out is not None:
            _move_into(staged, Path(adapter_out))
    return result


def _merge_into(tmp: Path, base_model_dir, adapter_dir: Path, *, dtype: str, max_shard_size: str, prompts,
                max_new_tokens: int, trust_remote_code: bool, allow_pickle: bool) -> list[dict[str, Any]]:
    """Save the merged model into ``tmp``; return base+adapter's answers and logits (with and without the
    adapter) per prompt."""
    import torch

    model = load_causal_lm(base_model_dir, dtype=torch.float32, trust_remote_code=trust_remote_code,
                           allow_pickle=allow_pickle)
    if getattr(model.config, "quantization_config", None) or getattr(model, "is_loaded_in_4bit", False):
        raise ValueError(f"{base_model_dir}: the base checkpoint is quantised; merging needs its 16-bit weights")
    tokenizer = load_tokenizer(base_model_dir, trust_remote_code=trust_remote_code)
    model = load_adapter(model, adapter_dir, allow_pickle=allow_pickle).eval()
    reference = _reference_outputs(model, tokenizer, prompts, max_new_tokens)

    merged = model.merge_and_unload().to(getattr(torch, dtype))
    merged.save_pretrained(tmp, max_shard_size=max_shard_size)
    tokenizer.save_pretrained(tmp)  # tokenizer files and the chat template (chat_template.jinja)
    if not (tmp / "generation_config.json").exists() and (Path(base_model_dir) / "generation_config.json").exists():
        shutil.copy2(Path(base_model_dir) / "generation_config.json", tmp / "generation_config.json")
    for name in BASE_EXTRAS:
        if (Path(base_model_dir) / name).is_file():
            shutil.copy2(Path(base_model_dir) / name, tmp / name)
    # The fresh process loads its own copy; free this one first so a large model fits twice in sequence.
    del merged, model
    _free()
    return reference


def _reference_outputs(model, tokenizer, prompts, max_new_tokens: int) -> list[dict[str, Any]]:
    import torch

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    with torch.no_grad():
        for prompt in prompts:
            ids = encode_prompt(tokenizer, prompt)
            x = torch.tensor([ids], device=device)
            gen = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
                                 do_sample=False, num_beams=1, pad_token_id=pad)
            new = gen[0, len(ids):].tolist()
            # Every position of prompt + answer is compared, fed in whole so no difference cascades.
            seq = torch.tensor([ids + new], device=device)
            logits = model(input_ids=seq).logits[0].float().cpu()
            with model.disable_adapter():
                base_logits = model(input_ids=seq).logits[0].float().cpu()
            out.append({"input_ids": ids, "new_ids": new, "sequence": ids + new, "logits": logits,
                        "base_logits": base_logits, "text": tokenizer.decode(new, skip_special_tokens=True),
                        # The logits of each greedy step, to tell a near-tie from a real disagreement later.
                        "step_logits": logits[len(ids) - 1:len(ids) - 1 + len(new)]})
    return out


def _unmerged_logits(base_model_dir, adapter_dir: Path, sequences, *, dtype: str, trust_remote_code: bool,
                     allow_pickle: bool) -> list[Any]:
    """Base loaded in ``dtype`` + the unmerged adapter, run in ``dtype``: the rounding a user gets anyway."""
    import torch

    model = load_causal_lm(base_model_dir, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code,
                           allow_pickle=allow_pickle)
    model = load_adapter(model, adapter_dir, allow_pickle=allow_pickle).eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([s], device=device)).logits[0].float().cpu() for s in sequences]
    del model
    _free()
    return logits


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _compare(reference, rounded, fresh, prompts, tolerance: Optional[float], *, dtype: str, **fields) -> MergeResult:
    if not fresh.ok:
        return MergeResult(dtype=dtype, tolerance=tolerance, max_abs_diff=float("nan"), adapter_effect=float("nan"),
                           logits_ok=False, loads_without_peft=False, generations_match=False,
                           error=fresh.error or "peft was imported", **fields)
    stats, checks, errors = judge([r["logits"] for r in reference], [r["base_logits"] for r in reference], rounded,
                                  fresh.logits, dtype=dtype, tolerance=tolerance)
    alike = all(ref["input_ids"] == got["input_ids"] for ref, got in zip(reference, fresh.results))
    if not alike:
        checks["tokenizer_encodes_alike"] = False
        errors.append("the merged folder's tokenizer encodes the prompts differently from the base's")
    # A choice closer than twice what the precision moves a logit may flip either way.
    margin = 2 * (tolerance if tolerance is not None else stats["rounding_only"]["max_abs_diff"])
    generations = [{"prompt": prompt_label(p), "base_plus_adapter": ref["text"], "merged": got["text"],
                    **_agreement(ref, got["new_ids"], margin)}
                   for p, ref, got in zip(prompts, reference, fresh.results)]
    return MergeResult(dtype=dtype, tolerance=tolerance, max_abs_diff=stats["merged"]["max_abs_diff"],
                       adapter_effect=stats["adapter_removed"]["max_abs_diff"], logits_ok=all(checks.values()),
                       loads_without_peft=True,
                       generations_match=all(g["equal"] or g["near_tie"] for g in generations),
                       statistics=stats, checks=checks, generations=generations, error="; ".join(errors),
                       **fields)


def _agreement(ref: dict[str, Any], got: list[int], margin: float) -> dict[str, Any]:
    """Equal, or where they first part and whether base+adapter itself was undecided there."""
    want = ref["new_ids"]
    if got == want:
        return {"equal": True, "near_tie": False, "diverged_at": None, "gap": None}
    k = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    gap = None
    if k < len(ref["step_logits"]) and k < len(got):
        row = ref["step_logits"][k]
        gap = float(row.max() - row[got[k]])
    return {"equal": False, "near_tie": gap is not None and gap <= margin, "diverged_at": k, "gap": gap}


def _failure_summary(result: MergeResult) -> str:
    parts = [result.error] if result.error else []
    if result.loads_without_peft and not result.generations_match:
        bad = [g["prompt"] for g in result.generations if not (g["equal"] or g["near_tie"])]
        parts.append(f"greedy generations differ for {len(bad)} prompt(s), e.g. {bad[0]!r}")
    return "; ".join(parts) + ". Check the adapter matches this base model (adapter_config.json base_model_name_or_path)."


def _move_into(src: Path, dest: Path) -> None:
    with atomic_dir(dest) as tmp:
        for f in src.iterdir():
            shutil.move(str(f), tmp / f.name)
    src.rmdir()


def read_verification(merged_dir: Path | str) -> dict[str, Any]:
    return json.loads((Path(merged_dir) / VERIFICATION_FILE).read_text())
