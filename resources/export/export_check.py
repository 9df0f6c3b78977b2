"""Is the GGUF file the merged model? Loaded back with transformers' own GGUF reader and compared, not assumed.

Three checks, all on the file as a consumer reads it (``from_pretrained(folder, gguf_file=...)``):

- tokenizer: the GGUF's tokenizer and its own chat template encode every prompt to the same ids as the folder's;
- weights: every tensor read back equals the merged tensor put through the chosen type's rounding exactly
  (``gguf_export.encode`` then the gguf package's dequantiser), so names, q/k permutation, shapes and tying are
  right, whatever the type;
- behaviour: next-token distributions over each prompt followed by the merged model's greedy answer (fed whole,
  so one early difference cannot cascade), against the merged model in float32: KL per token, top-1
  agreement, max |logit diff|; and the greedy answers of both, which are reported.

Tolerances per type (``TOLERANCE``): f32 is exact up to float arithmetic order; f16 keeps 11 significant bits,
bf16 8, and Q8_0 stores each block of 32 weights as 8-bit integers with one f16 scale (an error of up to 1/254
of the block's largest weight, coarser than bf16 for the typical weight), so the bounds grow in that order.
Measured on correct exports (mean KL nats/token, top-1 agreement; README "Export to GGUF"): SmolLM2-135M f16
2.9e-6 / 100 %, bf16 1.1e-4 / 100 %, q8_0 2.2e-3 / 96.8 %; the tiny model 8.8e-8, 4.5e-7, 4.3e-6 / 96.3 %.
The bounds sit several times above those. Behaviour alone cannot catch a layout error on the random tiny
model (q/k left unpermuted: KL 2.2e-5, top-1 94 %), which is why the weights must match exactly.

Cost: both models are held in float32 on the CPU (8 bytes per parameter in all: about 1 GB for SmolLM2-135M,
64 GB for an 8B model), and transformers dequantises the GGUF in NumPy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from resources.publishing.prompts import DEFAULT_PROMPTS, Prompt, encode_prompt, prompt_label

# kl_mean in nats/token, top1 as a share of positions; weights must match their rounding exactly.
TOLERANCE = {
    "f32": {"kl_mean": 1e-6, "top1_agreement": 0.999},
    "f16": {"kl_mean": 1e-4, "top1_agreement": 0.98},
    "bf16": {"kl_mean": 2e-3, "top1_agreement": 0.90},
    "q8_0": {"kl_mean": 1e-2, "top1_agreement": 0.85},
}
WEIGHT_ATOL = 1e-7  # float32 dequantisation by two libraries: the same products, so equal up to the last bit


def expected_weight(tensor, storage: str):
    """What a reader must get back for ``tensor`` stored as ``storage`` (a float32 torch tensor)."""
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import dequantize

    from resources.export.gguf_export import encode

    array = tensor.detach().float().numpy()
    if storage in ("f32", "f16"):
        return torch.from_numpy(encode(array, storage).astype(np.float32))
    data = encode(array, storage)
    return torch.from_numpy(dequantize(data, Q.BF16 if storage == "bf16" else Q.Q8_0).reshape(array.shape).copy())


def verify_export(merged_dir: Path | str, gguf_path: Path | str, tensor_type: str, tensor_types: dict[str, str],
                  prompts: Sequence[Prompt] = DEFAULT_PROMPTS, max_new_tokens: int = 16) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from resources.model.loading import load_causal_lm, load_tokenizer
    from resources.publishing.merge_check import divergence

    gguf_path = Path(gguf_path)
    failures: list[str] = []
    folder_tok = load_tokenizer(merged_dir)
    gguf_tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    encoded = [encode_prompt(folder_tok, p) for p in prompts]
    alike = sum(encode_prompt(gguf_tok, p) == ids for p, ids in zip(prompts, encoded))
    if alike != len(prompts):
        failures.append(f"the GGUF's tokenizer and chat template encode {len(prompts) - alike} of {len(prompts)} "
                        "prompts differently from the merged folder's")

    merged = load_causal_lm(merged_dir, dtype=torch.float32, device="cpu")
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                  dtype=torch.float32).eval()
    ours, theirs = merged.state_dict(), loaded.state_dict()
    weight_diff = 0.0
    for name, storage in tensor_types.items():
        if name not in theirs or theirs[name].shape != ours[name].shape:
            failures.append(f"tensor {name} is missing or misshapen when the GGUF is read back")
            continue
        weight_diff = max(weight_diff, float((theirs[name].float() - expected_weight(ours[name], storage)).abs().max()))
    if weight_diff > WEIGHT_ATOL:
        failures.append(f"weights read back differ from the merged weights rounded to {tensor_type} by up to "
                        f"{weight_diff:.3g} (allowed {WEIGHT_ATOL}): names, permutation or types are wrong")

    pad = folder_tok.pad_token_id if folder_tok.pad_token_id is not None else folder_tok.eos_token_id
    answers, ref_logits, got_logits = [], [], []
    with torch.no_grad():
        for prompt, ids in zip(prompts, encoded):
            x = torch.tensor([ids])
            a = merged.generate(x, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            b = loaded.generate(x, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            ref_logits.append(merged(input_ids=a).logits[0])
            got_logits.append(loaded(input_ids=a).logits[0])
            answers.append({"prompt": prompt_label(prompt), "merged": folder_tok.decode(a[0, len(ids):]),
                            "gguf": folder_tok.decode(b[0, len(ids):]), "identical": torch.equal(a, b)})
    behaviour = divergence(ref_logits, got_logits)
    bound = TOLERANCE[tensor_type]
    if behaviour["kl_mean"] > bound["kl_mean"]:
        failures.append(f"mean KL to the merged model {behaviour['kl_mean']:.3g} nats/token exceeds "
                        f"{bound['kl_mean']} for {tensor_type}")
    if behaviour["top1_agreement"] < bound["top1_agreement"]:
        failures.append(f"top-1 agreement with the merged model {behaviour['top1_agreement']:.3f} is below "
                        f"{bound['top1_agreement']} for {tensor_type}")
    return {"type": tensor_type, "verified": not failures, "failures": failures, "tolerance": bound,
            "tokenizer": {"prompts_encoded_alike": alike, "prompts": len(prompts)},
            "weights": {"tensors": len(tensor_types), "max_abs_diff_to_rounded_merged": weight_diff,
                        "stored_as": {t: sum(v == t for v in tensor_types.values())
                                      for t in sorted(set(tensor_types.values()))}},
            "behaviour": {**behaviour, "positions": sum(int(t.shape[0]) for t in ref_logits),
                          "greedy_identical": sum(a["identical"] for a in answers), "greedy_of": len(answers)},
            "answers": answers, "reader": "transformers.AutoModelForCausalLM.from_pretrained(gguf_file=...)"}
