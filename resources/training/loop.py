"""The QLoRA training loop: read it top to bottom.

data (tokenise, pack, seeded order) -> model (4-bit base + LoRA) -> optimiser and schedule -> resume from the
last complete checkpoint -> steps (accumulation, clipping, logging, held-out loss, early stop) -> checkpoints.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

from resources.training.checkpointing import (adapter_hash, latest_checkpoint, list_checkpoints,
                                              load_training_state, read_state, remove_stale_temporaries, rng_state,
                                              save_checkpoint)
from resources.training.config import TrainConfig
from resources.training.dataset import BatchStream
from resources.training.distributed import Dist, all_reduce_sum, barrier, gather_objects
from resources.training.early_stopping import MAX_STEPS_REACHED, EarlyStopping
from resources.training.heldout import HeldOutLoss
from resources.training.output_lock import output_lock
from resources.training.reporting import Reporter, SilentReporter
from resources.training.train_log import TRAIN_LOG, append_record, truncate_log


class ResumeMismatch(RuntimeError):
    pass


def train(cfg: TrainConfig, base_model_dir: Path | str, train_path: Path | str, output_dir: Path | str,
          reporter: Reporter | None = None, dist: Dist | None = None,
          init_adapter: Path | str | None = None, eval_path: Path | str | None = None,
          trust_remote_code: bool = False, allow_pickle: bool = False) -> dict[str, Any]:
    """Train (or resume training) a LoRA adapter; checkpoints land in ``output_dir/checkpoint-<step>/``.

    ``init_adapter``: a checkpoint to start from instead of a fresh adapter (DPO: the SFT checkpoint, also the
    frozen reference; see objective.py). ``eval_path``: the held-out set ``cfg.eval_loss_every`` measures on.
    ``trust_remote_code``, ``allow_pickle``: how far the base model is trusted (resources/model/handle.py).

    The main rank holds ``output_dir``'s lock throughout: a second trainer there is refused (output_lock.py)."""
    dist = dist or Dist.from_env()
    trust = {"trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle}
    if not dist.is_main:
        return _train(cfg, base_model_dir, train_path, output_dir, reporter, dist, init_adapter, eval_path, trust)
    with output_lock(output_dir, log=(reporter or Reporter()).log):
        return _train(cfg, base_model_dir, train_path, output_dir, reporter, dist, init_adapter, eval_path, trust)


def _train(cfg: TrainConfig, base_model_dir: Path | str, train_path: Path | str, output_dir: Path | str,
           reporter: Reporter | None, dist: Dist, init_adapter: Path | str | None,
           eval_path: Path | str | None, trust: dict[str, bool]) -> dict[str, Any]:
    import torch
    from transformers import set_seed

    from resources.model.loading import compute_dtype, load_tokenizer
    from resources.storage import content_hash
    from resources.training.activation_plan import make_plan, pieces
    from resources.training.flex_attention import uses_flex_attention
    from resources.training.lean_lora import lean_lora_installed
    from resources.training.objective import load_training_data, loss_module, start_policy
    from resources.training.optim import make_optimizer, make_scheduler
    from resources.training.qlora_model import build_qlora_model, load_adapter_weights
    from resources.training.speed import switch_on

    started = time.time()
    cfg.check(base_model_dir, trust["trust_remote_code"])
    reporter = reporter or (Reporter() if dist.is_main else SilentReporter())
    base_model_dir, train_path, output_dir = Path(base_model_dir), Path(train_path), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if dist.is_main:
        remove_stale_temporaries(output_dir)
    run_id = uuid.uuid4().hex[:8]

    # --- data ----------------------------------------------------------------------------------------------
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(base_model_dir, trust_remote_code=trust["trust_remote_code"])
    init_adapter = Path(init_adapter) if init_adapter else None
    training = load_training_data(cfg, tokenizer, train_path, init_adapter)
    data, stream, data_hash = training.data, training.stream, training.data_hash
    reporter.log(training.summary)
    stopper, heldout = EarlyStopping.of(cfg), HeldOutLoss.for_run(cfg, eval_path, tokenizer, dist, reporter.log)
    data_hash += "+heldout:" + content_hash(eval_path) if heldout else ""  # it decides where the run ends

    # --- model, optimiser, schedule -------------------------------------------------------------------------
    device = dist.device()
    model = build_qlora_model(cfg, base_model_dir, device, **trust)
    if uses_flex_attention(model) and isinstance(stream, BatchStream):  # its kernels compile per batch shape
        stream.width = cfg.max_seq_len
    optimizer = make_optimizer(cfg, model.parameters())
    scheduler = make_scheduler(cfg, optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    autocast = (torch.autocast("cuda", dtype=compute_dtype()) if device.startswith("cuda")
                else contextlib.nullcontext())
    start_policy(cfg, model, training, init_adapter=init_adapter, output_dir=output_dir, device=device,
                 autocast=autocast, dist=dist, log=reporter.log)

    # --- resume ---------------------------------------------------------------------------------------------
    state: dict[str, Any] = {"step": 0, "micro_batches": 0, "tokens_seen": 0, "loss_history": []}
    resumed_from = latest_checkpoint(output_dir)
    if resumed_from is not None:
        _check_resumable(resumed_from, cfg, data_hash)
        load_adapter_weights(model, resumed_from)
        state = load_training_state(resumed_from, optimizer=optimizer, scheduler=scheduler, rank=dist.rank)
        reporter.log(f"resuming from {resumed_from.name}: step {state['step']}, "
                     f"{state['micro_batches']} micro-batches consumed")
    else:
        torch.manual_seed(cfg.seed + dist.rank)  # LoRA init is done; now dropout masks differ per rank
    if dist.is_main:
        truncate_log(output_dir / TRAIN_LOG, state["step"])

    net = loss_module(cfg, model, device)
    reporter.log(f"objective: {cfg.objective}, speed: fused_loss={net is not model}, "
                 f"liger_kernels={_liger_patched(model)}, flex_attention={uses_flex_attention(model)}, "
                 f"frozen_in_compute_dtype={switch_on(cfg.frozen_in_compute_dtype, device)}, "
                 f"gradient_checkpointing={cfg.gradient_checkpointing}, device={device}")
    plan = make_plan(cfg, model, net, lambda: stream.micro_batch(state["micro_batches"] + dist.rank)[0], autocast,
                     device, dist, reporter.log)
    split = plan.split if plan else 1
    reporter.log(f"lean_lora={lean_lora_installed(model)}")
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        # gradients live in DDP's communication buckets (no copy in or out of them per step)
        net = DistributedDataParallel(net, device_ids=[dist.local_rank] if device != "cpu" else None,
                                      gradient_as_bucket_view=True)
    model.train()

    # --- steps ----------------------------------------------------------------------------------------------
    accum, world = cfg.gradient_accumulation_steps, dist.world_size
    start_step, loop_started = state["step"], time.time()
    last_loss = state["loss_history"][-1][1] if state["loss_history"] else float("nan")
    upcoming = _step_inputs(stream, state["micro_batches"], accum, dist)
    # a run that stopped early resumes to nothing: its last checkpoint holds the stop reason
    for step in range(start_step + 1, (start_step if state.get("stop_reason") else cfg.max_steps) + 1):
        t_step = time.time()
        first = state["micro_batches"]
        micro, tokens, targets = upcoming
        # the loss is normalised by the target tokens of the whole optimiser step on all ranks, not per
        # micro-batch: every target token weighs the same however the rows were split
        loss_sum = torch.zeros((), device=device)
        prefs = torch.zeros(2, device=device)  # DPO: reward margin sum, pairs ranked right
        for a, batch in enumerate(micro):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            parts = pieces(batch, split)  # the activation plan's pieces of rows
            for j, piece in enumerate(parts):
                last = a == accum - 1 and j == len(parts) - 1
                sync = net.no_sync() if dist.enabled and not last else contextlib.nullcontext()
                with sync:
                    with autocast:
                        out = net(**piece, use_cache=False, num_items_in_batch=max(targets, 1))
                    (out.loss * world).backward()  # DDP averages gradients over ranks; undo that, loss is global
                loss_sum += out.loss.detach()
                if getattr(out, "margin_sum", None) is not None:
                    prefs += torch.stack([out.margin_sum.float(), out.correct.float()])
        grad_norm = (torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm) if cfg.max_grad_norm > 0
                     else torch.tensor(float("nan"), device=device))
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        all_reduce_sum(dist, loss_sum)
        all_reduce_sum(dist, prefs)
        # the next step's batches are built while the GPU still works on this one; reading the loss below is the
        # step's only wait for the device
        upcoming = _step_inputs(stream, first + accum * world, accum, dist)
        last_loss, grad_norm = torch.stack([loss_sum.float(), grad_norm.float().to(device)]).tolist()

        state["step"] = step
        state["micro_batches"] = first + accum * world
        state["tokens_seen"] += int(tokens)
        state["loss_history"].append([step, round(last_loss, 6)])
        now = time.time()
        record = {"step": step, "max_steps": cfg.max_steps, "loss": last_loss, "lr": lr, "grad_norm": grad_norm,
                  "tokens": int(tokens), "tokens_seen": state["tokens_seen"], "target_tokens": int(targets),
                  "tokens_per_s": tokens / max(now - t_step, 1e-9), "step_s": now - t_step,
                  "eta_s": (now - loop_started) / (step - start_step) * (cfg.max_steps - step),
                  "epoch": stream.epoch_of(state["micro_batches"]), "run_id": run_id}
        if cfg.objective == "dpo":  # on the step's training pairs; held-out pairs are scored per checkpoint
            margin, right = prefs.tolist()
            record.update(pairs=int(targets), reward_margin=margin / max(targets, 1),
                          reward_accuracy=right / max(targets, 1))
        if stopper.due(step):  # after the step's timing: eval_s is apart from step_s
            record.update(stopper.record(state, step, heldout.loss(model, autocast)), eval_s=heldout.seconds)
            reporter.heldout(record)
        state["stop_reason"] = stopper.stop_reason(state) or (MAX_STEPS_REACHED if step == cfg.max_steps else None)
        if dist.is_main:
            append_record(output_dir / TRAIN_LOG, record)
        reporter.step(record)

        if step % cfg.save_every == 0 or state["stop_reason"] or record.get("improved"):
            rngs = gather_objects(dist, rng_state())
            if dist.is_main:
                path = save_checkpoint(output_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                       rng_states=rngs, state=_trainer_state(state, cfg, data_hash, stream, last_loss,
                                                                             world))
                reporter.checkpoint({"step": step, "path": str(path), "loss": last_loss})
            barrier(dist)
        if state["stop_reason"]:
            break

    # --- result ---------------------------------------------------------------------------------------------
    checkpoints = [{"step": read_state(p)["step"], "path": str(p), "loss": read_state(p)["loss"]}
                   for p in list_checkpoints(output_dir)]
    final = checkpoints[-1]["path"] if checkpoints else None
    result = {"checkpoints": checkpoints, "final_checkpoint": final, "final_loss": last_loss,
              "steps": state["step"], "tokens": state["tokens_seen"], "seconds": round(time.time() - started, 3),
              "resumed_from": read_state(resumed_from)["step"] if resumed_from else None,
              "adapter_hash": adapter_hash(final) if final else None, "train_log": str(output_dir / TRAIN_LOG),
              "examples": len(data.docs), "rows": len(stream.rows), "skipped": data.skipped,
              "truncated": data.truncated, "stop_reason": state.get("stop_reason") or MAX_STEPS_REACHED,
              "heldout": state.get("heldout")}
    reporter.log(f"done: step {result['steps']} loss {last_loss:.4f} in {result['seconds']:.0f}s; "
                 f"{result['stop_reason']}")
    return result


def _step_inputs(stream: BatchStream, first: int, accum: int, dist: Dist) -> tuple[list[dict], int, int]:
    """This rank's micro-batches of the optimiser step starting at micro-batch ``first``, and the step's real and
    target tokens over all ranks. The stream is deterministic, so every rank counts every rank's share itself
    (no collective, no wait for the device)."""
    import torch

    world = dist.world_size
    mine = [stream.micro_batch(first + a * world + dist.rank)[0] for a in range(accum)]
    if torch.cuda.is_available():
        mine = [{k: v.pin_memory() for k, v in b.items()} for b in mine]  # lets the copy to the GPU overlap
    sizes = [stream.sizes(first + k) for k in range(accum * world)]
    return mine, sum(n for n, _ in sizes), sum(t for _, t in sizes)


def _liger_patched(model) -> bool:
    return any(m._get_name() == "LigerSwiGLUMLP" for m in model.modules())  # Liger renames the MLPs it patches


def _trainer_state(state: dict, cfg: TrainConfig, data_hash: str, stream: BatchStream, loss: float,
                   world: int) -> dict[str, Any]:
    return {**state, "loss": loss, "epoch": stream.epoch_of(state["micro_batches"]), "world_size": world,
            "config_hash": cfg.config_hash(), "data_hash": data_hash, "config": cfg.to_dict()}


def _check_resumable(checkpoint: Path, cfg: TrainConfig, data_hash: str) -> None:
    prev = read_state(checkpoint)
    if prev.get("config_hash") != cfg.config_hash():
        changed = sorted(k for k, v in cfg.to_dict().items() if prev.get("config", {}).get(k) != v)
        raise ResumeMismatch(f"{checkpoint} was written with a different training configuration (changed: "
                             f"{changed}); train into a new output folder, or delete {checkpoint.parent} to restart")
    if prev.get("data_hash") != data_hash:
        raise ResumeMismatch(f"{checkpoint} was trained on different data (hash {prev.get('data_hash')}, now "
                             f"{data_hash}); train into a new output folder, or delete {checkpoint.parent} to restart")
