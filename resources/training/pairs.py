"""Preference data for DPO: a Parquet table of (prompt, chosen, rejected) -> tokenised pairs -> seeded micro-batches.

A pair is tokenised the way TRL's DPOTrainer does it, so the oracle test can compare losses token for token:
the prompt is rendered with the chat template and the generation prompt, each answer as the prompt plus one
assistant turn, and the completion is what follows the longest prefix the three renders share. The loss (and
the reference log-probability) covers the completion tokens only.

A micro-batch of ``n`` pairs is ``2n`` rows: the chosen sequences, then the rejected ones, right-padded. No
attention mask is needed: padding comes after every real token, so under the causal mask no real token can see it.
Like ``dataset.BatchStream``, the order is a pure function of (seed, epoch, index): resume needs no sampler state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from resources.training.epochs import EpochOrder

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class TokenizedPair:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    truncated: bool = False

    @property
    def tokens(self) -> int:
        return 2 * len(self.prompt_ids) + len(self.chosen_ids) + len(self.rejected_ids)


@dataclass
class Pairs:
    docs: list[TokenizedPair]  # "docs" like dataset.Documents, so the loop reports both the same way
    ids: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> pair ids
    truncated: int = 0


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        add_generation_prompt=add_generation_prompt)
    return list(out["input_ids"])


def tokenize_pair(tokenizer, prompt: list[dict], chosen: str, rejected: str, max_seq_len: int) -> TokenizedPair:
    """Prompt and the two completions as token ids (TRL's rule), cut so each sequence fits ``max_seq_len``.

    Too long: the oldest prompt tokens go first (the answer depends most on what precedes it), keeping at least a
    quarter of the window of prompt; an answer still too long is cut at its end."""
    prompt_ids = _render(tokenizer, prompt, add_generation_prompt=True)
    with_chosen = _render(tokenizer, prompt + [{"role": "assistant", "content": chosen}])
    with_rejected = _render(tokenizer, prompt + [{"role": "assistant", "content": rejected}])
    start = min(_common_prefix(prompt_ids, with_chosen), _common_prefix(prompt_ids, with_rejected))
    p, c, r = prompt_ids[:start], with_chosen[start:], with_rejected[start:]
    longest = len(p) + max(len(c), len(r))
    if longest <= max_seq_len:
        return TokenizedPair(p, c, r)
    keep_prompt = max(min(len(p), max_seq_len - max(len(c), len(r))), min(len(p), max_seq_len // 4))
    p = p[len(p) - keep_prompt:]
    room = max_seq_len - len(p)
    return TokenizedPair(p, c[:room], r[:room], truncated=True)


def pair_problem(prompt, chosen, rejected) -> str | None:
    """Why a pair cannot be trained on, or None, in the categories of the data stage's ledger
    (resources/preference/schema.py). The data stage rejects these already; the trainer checks again because its
    input is a file anyone can point it at, with its own copy because the training process never imports dagster
    (which resources/sources, under that module, does)."""
    if not isinstance(prompt, list) or not prompt or not all(isinstance(m, dict) for m in prompt):
        return "missing prompt"
    if prompt[-1].get("role") != "user" or not str(prompt[-1].get("content") or "").strip():
        return "missing prompt"  # no user turn to answer last
    for side, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str) or not value.strip():
            return f"empty {side}"
    if chosen.strip() == rejected.strip():
        return "chosen equals rejected"
    return None


def load_pairs(path: Path | str, tokenizer, max_seq_len: int) -> Pairs:
    """Tokenise every pair of ``path`` (Parquet with ``prompt`` as a JSON chat, ``chosen`` and ``rejected``)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"preference pairs {path} do not exist; materialise preference_pairs first")
    frame = pd.read_parquet(path)
    missing = [c for c in PAIR_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no {missing} column(s) (columns: {list(frame.columns)}); expected id, prompt "
                         "(JSON list of chat messages ending with a user turn), chosen, rejected")
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else [f"row {i}" for i in range(len(frame))]
    out = Pairs(docs=[])
    for rid, raw, chosen, rejected in zip(ids, frame["prompt"], frame["chosen"], frame["rejected"]):
        try:
            prompt = json.loads(raw) if isinstance(raw, str) else (list(raw) if hasattr(raw, "__iter__") else None)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, pair {rid}: prompt is not valid JSON ({exc})") from exc
        reason = pair_problem(prompt, chosen, rejected)
        if reason is None:
            pair = tokenize_pair(tokenizer, prompt, str(chosen), str(rejected), max_seq_len)
            if not pair.chosen_ids or not pair.rejected_ids:
                reason = "no completion tokens left after truncation"
        if reason is not None:
            out.skipped.setdefault(reason, []).append(rid)
            continue
        out.truncated += pair.truncated
        out.docs.append(pair)
        out.ids.append(rid)
    if not out.docs:
        reasons = {k: len(v) for k, v in out.skipped.items()}
        raise ValueError(f"{path}: none of its {len(frame)} pairs can be trained on ({reasons})")
    return out


def collate_pairs(pairs: list[TokenizedPair], pad_id: int, ref_logps: list[tuple[float, float]] | None = None) -> dict:
    """[chosen rows..., rejected rows...], right-padded; ``completion_mask`` marks the tokens the loss scores."""
    import torch

    seqs = [(p.prompt_ids, p.chosen_ids) for p in pairs] + [(p.prompt_ids, p.rejected_ids) for p in pairs]
    width = max(len(a) + len(b) for a, b in seqs)
    ids = [a + b + [pad_id] * (width - len(a) - len(b)) for a, b in seqs]
    mask = [[0] * len(a) + [1] * len(b) + [0] * (width - len(a) - len(b)) for a, b in seqs]
    batch = {"input_ids": torch.tensor(ids, dtype=torch.long),
             "completion_mask": torch.tensor(mask, dtype=torch.long)}
    if ref_logps is not None:
        batch["ref_logps"] = torch.tensor([c for c, _ in ref_logps] + [r for _, r in ref_logps], dtype=torch.float32)
    return batch


class PairStream(EpochOrder):
    """Micro-batch ``g`` of an endless, epoch-by-epoch reshuffled sequence of pairs (``micro_batch_size`` pairs)."""

    def __init__(self, pairs: list[TokenizedPair], *, micro_batch_size: int, seed: int, pad_id: int):
        super().__init__(len(pairs), micro_batch_size, seed)
        self.rows, self.pad_id = pairs, pad_id
        self.ref_logps: list[tuple[float, float]] | None = None  # set once the reference pass is done

    def sizes(self, g: int) -> tuple[int, int]:
        """(real tokens, pairs) of micro-batch ``g``: the loss is a mean over the pairs of an optimiser step."""
        idx = self._indices(g)
        return sum(self.rows[j].tokens for j in idx), len(idx)

    def micro_batch(self, g: int) -> tuple[dict, int]:
        if self.ref_logps is None:
            raise RuntimeError("PairStream: reference log-probabilities are not computed yet (reference.py)")
        idx = self._indices(g)
        rows = [self.rows[j] for j in idx]
        return collate_pairs(rows, self.pad_id, [self.ref_logps[j] for j in idx]), sum(r.tokens for r in rows)
