"""Held-out preference pairs scored per DPO checkpoint: preference accuracy and reward margin.

For a checkpoint (policy pi) trained from an SFT adapter (reference pi_ref), each answer's implicit DPO reward is
beta * (log pi(y) - log pi_ref(y)). On the held-out pairs we report:

* ``reward_accuracy``: share of pairs whose chosen answer earns the larger reward (what DPO optimises; 0 for
  the reference itself, where every reward is 0);
* ``reward_margin``: the mean of chosen minus rejected reward;
* ``likelihood_accuracy``: share of pairs where the model alone gives the chosen answer the higher
  log-probability. It needs no reference, so it also has a "before" value: the SFT checkpoint's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _score(model, pairs, device: str, batch_size: int) -> list[tuple[float, float]]:
    import torch

    from resources.training.dpo import sequence_logps
    from resources.training.pairs import collate_pairs

    out: list[tuple[float, float]] = []
    with torch.no_grad():
        for s in range(0, len(pairs), batch_size):
            batch = collate_pairs(pairs[s:s + batch_size], pad_id=0)
            logps = sequence_logps(model, batch["input_ids"].to(device), batch["completion_mask"].to(device))
            chosen, rejected = logps.float().cpu().chunk(2)
            out += list(zip(chosen.tolist(), rejected.tolist()))
    return out


def pair_metrics(policy: list[tuple[float, float]], reference: list[tuple[float, float]], beta: float) -> dict:
    n = max(len(policy), 1)
    margins = [beta * ((pc - rc) - (pr - rr)) for (pc, pr), (rc, rr) in zip(policy, reference)]
    return {"pairs": len(policy), "reward_accuracy": sum(m > 0 for m in margins) / n,
            "reward_margin": sum(margins) / n, "likelihood_accuracy": sum(c > r for c, r in policy) / n}


def score_checkpoints(base_model_dir: Path | str, reference_adapter: Path | str,
                      checkpoints: list[tuple[str, int, Path | str]], eval_path: Path | str, *, beta: float,
                      max_seq_len: int, batch_size: int = 8, trust_remote_code: bool = False,
                      allow_pickle: bool = False) -> dict[str, Any]:
    """{"reference": metrics of the SFT adapter, "checkpoints": [{"checkpoint", "step", metrics...}]}.

    The base is loaded once; each checkpoint's adapter weights replace the previous ones in place."""
    from resources.model.loading import load_adapter, load_causal_lm, load_tokenizer
    from resources.training.dpo import disable_dropout
    from resources.training.pairs import load_pairs
    from resources.training.qlora_model import load_adapter_weights

    tokenizer = load_tokenizer(base_model_dir, trust_remote_code=trust_remote_code)
    loaded = load_pairs(eval_path, tokenizer, max_seq_len)
    pairs = loaded.docs
    model = load_adapter(load_causal_lm(base_model_dir, trust_remote_code=trust_remote_code,
                                        allow_pickle=allow_pickle), reference_adapter)
    model.eval()
    disable_dropout(model)
    device = str(next(model.parameters()).device)
    reference = _score(model, pairs, device, batch_size)
    rows = []
    for key, step, path in checkpoints:
        load_adapter_weights(model, path)
        rows.append({"checkpoint": key, "step": step, **pair_metrics(_score(model, pairs, device, batch_size),
                                                                      reference, beta)})
    return {"reference": {"checkpoint": str(reference_adapter), **pair_metrics(reference, reference, beta)},
            "checkpoints": rows, "skipped": {k: len(v) for k, v in loaded.skipped.items()}, "beta": beta}


def preference_plot_md(report: dict[str, Any]) -> str:
    """Held-out preference accuracy and reward margin by DPO step (step 0: the SFT checkpoint)."""
    from resources.reports.plots import line_chart_md

    rows = report.get("checkpoints") or []
    if not rows:
        return "no DPO checkpoints scored"
    ref = report["reference"]
    steps = [0] + [r["step"] for r in rows]
    accuracy = line_chart_md({"reward accuracy": (steps, [0.0] + [r["reward_accuracy"] for r in rows]),
                              "likelihood accuracy": (steps, [ref["likelihood_accuracy"]]
                                                      + [r["likelihood_accuracy"] for r in rows])},
                             title="Held-out preference accuracy by DPO step", ylabel="share of pairs")
    margin = line_chart_md({"reward margin": (steps, [0.0] + [r["reward_margin"] for r in rows])},
                           title="Held-out reward margin by DPO step", ylabel="beta x log-ratio")
    return accuracy + "\n\n" + margin
