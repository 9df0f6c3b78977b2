"""Training data: a Parquet table of canonical examples -> tokenised chats -> rows -> seeded micro-batches.

The order of micro-batches is a pure function of (seed, epoch, index), so a resumed run that knows how many
micro-batches were consumed continues with exactly the batches an uninterrupted run would have seen, with no
sampler state to save.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from resources.training.chat_tokens import IGNORE, TokenizedChat, tokenize_chat
from resources.training.epochs import EpochOrder
from resources.training.packing import Row, collate, one_per_row, pack


@dataclass
class Documents:
    docs: list[TokenizedChat]
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> example ids
    truncated: int = 0


def load_documents(train_path: Path | str, tokenizer, max_seq_len: int) -> Documents:
    """Tokenise every example of ``train_path`` (Parquet with a ``messages`` column of JSON chats)."""
    import pandas as pd

    train_path = Path(train_path)
    if not train_path.is_file():
        raise FileNotFoundError(f"training set {train_path} does not exist; materialise training_datasets first")
    frame = pd.read_parquet(train_path, columns=None)
    if "messages" not in frame.columns:
        raise ValueError(f"{train_path}: no 'messages' column (columns: {list(frame.columns)}); "
                         "expected the canonical example schema of resources/schema.py")
    ids = frame["id"].astype(str).tolist() if "id" in frame.columns else [f"row {i}" for i in range(len(frame))]
    out = Documents(docs=[])
    for rid, raw in zip(ids, frame["messages"].tolist()):
        try:
            messages = json.loads(raw) if isinstance(raw, str) else list(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{train_path}, example {rid}: messages is not valid JSON ({exc})") from exc
        chat = tokenize_chat(tokenizer, messages, max_seq_len)
        if chat.n_targets == 0:  # nothing to learn (no assistant turn, or cut away entirely)
            out.skipped.setdefault("no assistant tokens", []).append(rid)
            continue
        out.truncated += chat.truncated
        out.docs.append(chat)
    if not out.docs:
        raise ValueError(f"{train_path}: none of its {len(frame)} examples has an assistant answer to train on")
    return out


class BatchStream(EpochOrder):
    """Micro-batch ``g`` of an endless, epoch-by-epoch reshuffled sequence of rows."""

    def __init__(self, docs: list[TokenizedChat], *, max_seq_len: int, micro_batch_size: int, packing: bool,
                 seed: int, pad_id: int):
        self.rows: list[Row] = pack(docs, max_seq_len) if packing else one_per_row(docs)
        super().__init__(len(self.rows), micro_batch_size, seed)
        self.pad_id = pad_id
        self.width = None  # pad every micro-batch to this many columns (one shape for compiled kernels)
        # per row: (real tokens, target tokens); a row's first label is always ignored, so counting all its labels
        # equals n_targets of the collated row
        self._sizes = [(len(r), sum(lab != IGNORE for lab in r.labels)) for r in self.rows]

    def sizes(self, g: int) -> tuple[int, int]:
        """(real tokens, target tokens) of micro-batch ``g``, without building it."""
        idx = self._indices(g)
        return sum(self._sizes[j][0] for j in idx), sum(self._sizes[j][1] for j in idx)

    def micro_batch(self, g: int) -> tuple[dict, int]:
        """(model inputs, number of real tokens) of micro-batch ``g``."""
        rows = [self.rows[j] for j in self._indices(g)]
        return collate(rows, self.pad_id, self.width), sum(len(r) for r in rows)
