"""The held-out loss the trainer watches for early stopping, measured during training.

The same measure as the evaluation report's ``loss``, by the same code (``resources/evaluation/heldout_loss.py``
and ``loglik.py``): the negative log-likelihood of each reference answer's tokens given its prompt, averaged over
all answer tokens of the held-out set. So the curve logged while training and each checkpoint's report agree
(exactly with ``quantization: none``; under nf4 training measures on the 4-bit base it trains on, the report on
the base loaded in full precision, a small offset that is the same for every checkpoint).
The set is tokenised once; under DDP each rank scores its share and the sums are added up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resources.training.distributed import Dist, all_reduce_sum


def read_heldout(path: Path | str) -> list[dict[str, Any]]:
    """The held-out examples (the prepared eval split: ``messages`` and ``reference`` per row)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"held-out set {path} does not exist; eval_loss_every needs the prepared eval split "
                                "(materialise training_datasets), or set eval_loss_every to 0")
    frame = pd.read_parquet(path)
    missing = [c for c in ("messages", "reference") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing; expected the example schema (resources/schema.py)")
    return frame.to_dict(orient="records")


class HeldOutLoss:
    """``loss(model)``: the current held-out loss; construct once per run (tokenises the whole set)."""

    @classmethod
    def for_run(cls, cfg, eval_path: Path | str | None, tokenizer, dist: Dist, log) -> "HeldOutLoss | None":
        """The run's held-out set when ``cfg.eval_loss_every`` asks for one, else None."""
        if not cfg.eval_loss_every:
            return None
        if not eval_path:
            raise ValueError(f"eval_loss_every is {cfg.eval_loss_every} but no held-out set was given (eval_path); "
                             "pass the prepared eval split, or set eval_loss_every to 0")
        # a training micro-batch's tokens fit in memory with gradients, so a forward pass alone does too
        heldout = cls(eval_path, tokenizer, dist, max_batch_tokens=cfg.micro_batch_size * cfg.max_seq_len)
        log(f"held-out loss every {cfg.eval_loss_every} steps on {heldout.items} examples ({heldout.tokens} "
            f"answer tokens), patience {cfg.early_stopping_patience}")
        return heldout

    def __init__(self, path: Path | str, tokenizer, dist: Dist, *, max_batch_tokens: int):
        from resources.evaluation.heldout_loss import reference_span

        examples = read_heldout(path)
        spans = [reference_span(tokenizer, ex) for ex in examples]
        self.tokens = sum(len(ids) - start for ids, start in spans)
        if not self.tokens:
            raise ValueError(f"held-out set {path} has no reference answer tokens to measure a loss on "
                             f"({len(examples)} rows); early stopping needs a non-empty eval split")
        self.mine = spans[dist.rank::dist.world_size]
        self.items, self.dist, self.max_batch_tokens = len(spans), dist, max_batch_tokens
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.tokenizer, self.seconds = tokenizer, 0.0

    def loss(self, model, autocast) -> float:
        import time

        import torch

        from resources.evaluation.generation import context_limit
        from resources.evaluation.loglik import continuation_logprobs
        from resources.training.flex_attention import sdpa_while

        started = time.time()
        with autocast, sdpa_while(model):
            scored = continuation_logprobs(model, self.mine, pad_id=self.pad_id,
                                           max_batch_tokens=self.max_batch_tokens,
                                           max_length=context_limit(model, self.tokenizer)) if self.mine else []
        device = next(model.parameters()).device
        sums = torch.tensor([-sum(lp for lp, _ in scored), sum(n for _, n in scored)], dtype=torch.float64,
                            device=device)
        all_reduce_sum(self.dist, sums)
        nll, n = sums.tolist()
        self.seconds = time.time() - started
        return nll / max(n, 1.0)
