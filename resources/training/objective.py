"""What the loop optimises: next-token SFT on chats, or DPO on preference pairs from a starting adapter.

The loop (loop.py) is the same for both; it asks this module for its data stream, for the policy's starting
point and for the module whose forward returns the loss. Everything else (optimiser, schedule, accumulation,
clipping, checkpoints, resume, DDP) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resources.training.config import TrainConfig


@dataclass
class TrainingData:
    data: Any  # dataset.Documents or pairs.Pairs: .docs, .skipped, .truncated
    stream: Any  # dataset.BatchStream or pairs.PairStream: the same micro-batch interface
    data_hash: str  # what a checkpoint must have been trained on to be resumed
    summary: str


def load_training_data(cfg: TrainConfig, tokenizer, train_path: Path, init_adapter: Path | None) -> TrainingData:
    from resources.storage import content_hash
    from resources.training.checkpointing import adapter_hash

    if cfg.objective == "dpo":
        from resources.training.pairs import PairStream, load_pairs

        if init_adapter is None:
            raise ValueError("objective dpo needs the SFT checkpoint to start from (init_adapter); it is both the "
                             "starting policy and the frozen reference")
        pairs = load_pairs(train_path, tokenizer, cfg.max_seq_len)
        stream = PairStream(pairs.docs, micro_batch_size=cfg.micro_batch_size, seed=cfg.seed,
                            pad_id=tokenizer.pad_token_id)
        # the starting adapter is part of the data: a new SFT checkpoint means new references, a new run
        data_hash = content_hash(train_path) + "+" + adapter_hash(init_adapter)
        summary = (f"data: {len(pairs.docs)} preference pairs ({pairs.truncated} truncated, "
                   f"{sum(len(v) for v in pairs.skipped.values())} skipped: "
                   f"{ {k: len(v) for k, v in pairs.skipped.items()} }), {stream.per_epoch} micro-batches of "
                   f"{cfg.micro_batch_size} pairs per epoch")
        return TrainingData(pairs, stream, data_hash, summary)

    from resources.training.dataset import BatchStream, load_documents

    docs = load_documents(train_path, tokenizer, cfg.max_seq_len)
    stream = BatchStream(docs.docs, max_seq_len=cfg.max_seq_len, micro_batch_size=cfg.micro_batch_size,
                         packing=cfg.packing, seed=cfg.seed, pad_id=tokenizer.pad_token_id)
    data_hash = content_hash(train_path) + ("+" + adapter_hash(init_adapter) if init_adapter else "")
    summary = (f"data: {len(docs.docs)} chats ({docs.truncated} truncated, "
               f"{sum(len(v) for v in docs.skipped.values())} skipped) in {len(stream.rows)} rows of <= "
               f"{cfg.max_seq_len} tokens, {stream.per_epoch} micro-batches per epoch")
    return TrainingData(docs, stream, data_hash, summary)


def start_policy(cfg: TrainConfig, model, training: TrainingData, *, init_adapter: Path | None, output_dir: Path,
                 device: str, autocast, dist, log) -> None:
    """Put the starting adapter in; for DPO also switch dropout off and get the reference log-probabilities
    (before a resumed checkpoint's weights replace the starting ones)."""
    from resources.training.qlora_model import load_adapter_weights

    if init_adapter is not None:
        load_adapter_weights(model, init_adapter)
        log(f"starting from adapter {init_adapter}")
    if cfg.objective != "dpo":
        return
    from resources.training.checkpointing import adapter_hash
    from resources.training.dpo import disable_dropout
    from resources.training.reference import reference_logps

    disable_dropout(model)
    key = {"data": training.data_hash, "adapter": adapter_hash(init_adapter), "max_seq_len": cfg.max_seq_len,
           "pairs": len(training.stream.rows)}
    training.stream.ref_logps = reference_logps(model, training.stream, output_dir, key, device=device,
                                                autocast=autocast, dist=dist, batch_size=cfg.micro_batch_size,
                                                log=log)


def loss_module(cfg: TrainConfig, model, device: str):
    """The module whose ``forward(**micro_batch, num_items_in_batch=...)`` returns ``.loss``."""
    if cfg.objective == "dpo":
        from resources.training.dpo import DPOLossLM

        return DPOLossLM(model, beta=cfg.beta, loss=cfg.dpo_loss)
    from resources.training.speed import fused_loss_on

    if fused_loss_on(model, cfg, device):  # loss on answer tokens in chunks, no full logits (fused_loss.py)
        from resources.training.fused_loss import ChunkedLossLM

        return ChunkedLossLM(model)
    return model
