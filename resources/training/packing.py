"""Pack short chats into full rows without letting them see each other.

Several documents share one row of ``max_seq_len`` tokens (far fewer padding tokens to pay for), yet each is
computed exactly as if it were alone:

* ``position_ids`` restart at 0 for every document. transformers (``masking_utils.find_packed_sequence_indices``)
  reads a restart as a document boundary and builds a block-diagonal causal mask, for eager, sdpa and flash
  attention alike, provided ``attention_mask`` is None and no KV cache is passed (``use_cache=False``).
* the first label of every document is ignored, so the last token of one document is never asked to predict
  the first token of the next.

Padding at the end of a row is one more "document" (positions from 0, labels ignored) that attends only to
itself, so real tokens never attend to padding either.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Sequence

from resources.training.chat_tokens import IGNORE, TokenizedChat


@dataclass
class Row:
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    doc_lengths: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)

    def add(self, doc: TokenizedChat) -> None:
        self.input_ids += doc.input_ids
        self.labels += [IGNORE] + doc.labels[1:]
        self.position_ids += list(range(len(doc)))
        self.doc_lengths.append(len(doc))


def pack(docs: Sequence[TokenizedChat], max_seq_len: int) -> list[Row]:
    """Best-fit decreasing bin packing into rows of at most ``max_seq_len`` tokens (deterministic)."""
    order = sorted(range(len(docs)), key=lambda i: (-len(docs[i]), i))
    rows: list[Row] = []
    free: list[tuple[int, int]] = []  # (free tokens, row index), sorted: the tightest row that fits is found by bisect
    for i in order:
        n = len(docs[i])
        if n > max_seq_len:
            raise ValueError(f"document {i} has {n} tokens, more than max_seq_len={max_seq_len}; truncate it first")
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            room, r = free.pop(k)
        else:
            rows.append(Row())
            room, r = max_seq_len, len(rows) - 1
        rows[r].add(docs[i])
        if room - n > 0:
            bisect.insort(free, (room - n, r))
    return rows


def one_per_row(docs: Sequence[TokenizedChat]) -> list[Row]:
    """No packing: every document in its own row (padded at collation)."""
    rows = []
    for d in docs:
        r = Row()
        r.add(d)
        rows.append(r)
    return rows


def collate(rows: Sequence[Row], pad_id: int, width: int | None = None) -> dict:
    """Stack rows into tensors, right-padded to the longest row (or to ``width`` where that is wider); see the
    module note for why no attention_mask."""
    import torch

    width = max([len(r) for r in rows] + [width or 0])
    ids, labels, pos = [], [], []
    for r in rows:
        pad = width - len(r)
        ids.append(r.input_ids + [pad_id] * pad)
        labels.append(r.labels + [IGNORE] * pad)
        pos.append(r.position_ids + list(range(pad)))
    return {"input_ids": torch.tensor(ids, dtype=torch.long), "labels": torch.tensor(labels, dtype=torch.long),
            "position_ids": torch.tensor(pos, dtype=torch.long)}


def n_targets(batch: dict) -> int:
    """Tokens the loss is computed on: labels the model predicts (every position after the first)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
