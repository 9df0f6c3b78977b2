"""Log-likelihood of a continuation given its context: the one scoring primitive behind held-out loss
(reference given prompt) and multiple-choice benchmarks (each choice given the question).
"""

from __future__ import annotations

from typing import Sequence

from resources.evaluation.batching import run_batched


def continuation_logprobs(model, sequences: Sequence[tuple[list[int], int]], *, pad_id: int,
                          max_batch_tokens: int = 4096, max_length: int | None = None) -> list[tuple[float, int]]:
    """For each ``(ids, start)``: (sum of log p(ids[t] | ids[:t]) for t >= start, number of such tokens).

    Sequences longer than ``max_length`` lose tokens from the left (the context), never from the scored end.
    """
    import torch

    prepared = []
    for ids, start in sequences:
        ids = list(ids)
        if max_length and len(ids) > max_length:
            cut = len(ids) - max_length
            ids, start = ids[cut:], start - cut
        prepared.append((ids, max(1, start)))  # the first token has no context to be predicted from
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def run(batch: list[int]) -> list[tuple[float, int]]:
        rows = [prepared[i] for i in batch]
        width = max(len(ids) for ids, _ in rows)
        ids_t = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (ids, _) in enumerate(rows):  # right padding: real tokens keep positions 0..n-1
            ids_t[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[r, :len(ids)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids_t.to(device), attention_mask=mask.to(device)).logits
        out = []
        for r, (ids, start) in enumerate(rows):
            if start >= len(ids):
                out.append((0.0, 0))
                continue
            # log_softmax one row at a time: a batch of full-vocabulary log-probs in fp32 is large
            lp = torch.log_softmax(logits[r, start - 1:len(ids) - 1].float(), dim=-1)
            target = ids_t[r, start:len(ids)].to(lp.device)
            out.append((float(lp.gather(1, target[:, None]).sum()), len(ids) - start))
        return out

    try:
        return run_batched([len(ids) for ids, _ in prepared], max_batch_tokens, run)
    finally:
        model.train(was_training)


def next_token_logprobs(model, contexts: Sequence[list[int]], candidates: Sequence[Sequence[int]], *, pad_id: int,
                        max_batch_tokens: int = 4096, max_length: int | None = None) -> list[list[float]]:
    """For each context: log p(token | context) of each of its candidate tokens, from one forward pass.

    Equal to ``continuation_logprobs`` of every one-token continuation, at a quarter of the cost for four
    answer letters: the candidates share the context, so only the last position's distribution is needed.
    """
    import torch

    prepared = [list(ids)[-max_length:] if max_length else list(ids) for ids in contexts]  # keep the end
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def run(batch: list[int]) -> list[list[float]]:
        rows = [prepared[i] for i in batch]
        width = max(len(ids) for ids in rows)
        ids_t = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, ids in enumerate(rows):  # right padding, as in continuation_logprobs
            ids_t[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[r, :len(ids)] = 1
        # only the positions from the shortest row's end on are read: skip the vocabulary projection elsewhere
        # (a batch holds similar lengths, so this is a few positions instead of the whole width)
        keep = width - min(len(ids) for ids in rows) + 1
        with torch.inference_mode():
            try:
                logits = model(input_ids=ids_t.to(device), attention_mask=mask.to(device), logits_to_keep=keep).logits
            except TypeError:  # a model class without logits_to_keep: every position
                logits = model(input_ids=ids_t.to(device), attention_mask=mask.to(device)).logits
        offset = width - logits.shape[1]
        out = []
        for r, (ids, i) in enumerate(zip(rows, batch)):
            lp = torch.log_softmax(logits[r, len(ids) - 1 - offset].float(), dim=-1)
            out.append([float(lp[t]) for t in candidates[i]])
        return out

    try:
        return run_batched([len(ids) for ids in prepared], max_batch_tokens, run)
    finally:
        model.train(was_training)
