"""Every knob of a QLoRA training run, in one dataclass checked before any GPU time is spent.

Plain Python on purpose: the training process imports this (and ``dagster_pipes``), never ``dagster``, so the
same code runs under a Dagster subprocess, under ``torchrun`` or in a bare Kubernetes pod.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resources.training.activation_plan import parse_budget
from resources.training.early_stopping import early_stopping_problems

SCHEDULERS = ("cosine", "linear", "constant")
OPTIMIZERS = ("auto", "adamw_torch", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit")
# GPU speed switches: "auto" means on where a CUDA GPU is training and off on CPU (CPU runs keep the plain
# recipe), "on"/"off" force it. speed.py resolves them when the model is built.
SWITCHES = ("auto", "on", "off")
# How the frozen base is held while LoRA trains: "nf4" is QLoRA (bitsandbytes 4-bit, the product's recipe);
# "none" keeps it in the compute dtype (fp32 on CPU), plain LoRA, for CPUs where bitsandbytes' 4-bit kernels
# are the bottleneck (SmolLM2-135M on 2 cores: several times faster, see profiles/README.md).
QUANTIZATIONS = ("nf4", "none")
# What is learnt: "sft" (next-token loss on the assistant's answers) or "dpo" (preference pairs, from an SFT
# adapter that is also the frozen reference; dpo.py). dpo_loss "sigmoid" is DPO, "ipo" is IPO.
OBJECTIVES = ("sft", "dpo")
DPO_LOSSES = ("sigmoid", "ipo")
DPO_ONLY = ("objective", "beta", "dpo_loss")  # set by the preference stage (dpo section), not trainer
EARLY_STOPPING = ("eval_loss_every", "early_stopping_patience", "early_stopping_min_delta")

# Fields that only change how often we write or how fast the same objective is computed, not what is learnt: a
# checkpoint written under one value can be resumed under another (e.g. a CPU-started run resumed on a GPU).
_NOT_HASHED = ("save_every", "fused_loss", "liger_kernels", "frozen_in_compute_dtype", "lean_lora",
               "activation_memory", "activation_offload", "flex_attention")


class ConfigError(ValueError):
    """All problems of a training configuration at once, so one fix-and-retry cycle clears them all."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid training configuration:\n" + "\n".join(f"  - {e}" for e in self.errors))


@dataclass
class TrainConfig:
    # LoRA adapter
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: Any = "all-linear"  # "all-linear", a list of module names, or "q_proj,v_proj"
    use_rslora: bool = False
    use_dora: bool = False
    quantization: str = "nf4"
    # optimisation
    learning_rate: float = 2e-3
    lr_scheduler: str = "cosine"
    warmup_steps: int = 2
    max_steps: int = 40
    micro_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    optimizer: str = "auto"  # auto: paged 8-bit AdamW (bitsandbytes) on CUDA, torch AdamW on CPU
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # 0 turns clipping off
    # data
    max_seq_len: int = 512
    packing: bool = True
    max_batch_tokens: int = 65536  # micro_batch_size * max_seq_len above this is refused (memory guard)
    # run
    save_every: int = 10
    seed: int = 42
    gradient_checkpointing: bool = True
    # GPU speed (see speed.py): loss on answer tokens only, in chunks, never the full [tokens x vocab] logits;
    # Liger's Triton kernels for RMSNorm, SwiGLU and RoPE; frozen norms/embeddings kept in bf16 instead of the
    # fp32 upcast of peft's prepare_model_for_kbit_training (which makes the whole residual stream fp32)
    fused_loss: str = "auto"
    liger_kernels: str = "auto"
    frozen_in_compute_dtype: str = "auto"
    flex_attention: str = "auto"  # packed rows' documents as a block mask for FlexAttention (flex_attention.py)
    # LoRA's forward and backward in one function that saves no copy of each layer input (lean_lora.py); "auto":
    # the activation plan takes it where it lets more layers keep their activations than it costs
    lean_lora: str = "auto"
    # GiB the activations saved for backward may take: the trainer keeps as many layers' activations as fit and
    # recomputes the rest (activation_plan.py). "auto": what the GPU has free (on CPU: "off"); "off": every layer
    # recomputed, the classic recipe. Only with gradient_checkpointing on.
    activation_memory: str = "auto"
    # "auto": on a CUDA GPU the plan may also copy the first layers' activations to pinned host memory during the
    # forward, overlapped with compute, where PCIe is fast enough to hide it (activation_offload.py); "off": never
    activation_offload: str = "auto"
    # objective (micro_batch_size counts pairs under dpo: each is two sequences)
    objective: str = "sft"
    beta: float = 0.1  # DPO's KL strength: how far from the reference a preference may pull (typical 0.05-0.5)
    dpo_loss: str = "sigmoid"
    # early stopping (early_stopping.py), SFT only: the mean held-out loss every eval_loss_every steps (0: never);
    # an improving evaluation saves a checkpoint, and the run stops once early_stopping_patience evaluations in a
    # row have not lowered the best loss by more than early_stopping_min_delta (patience 0: measure, never stop)
    eval_loss_every: int = 0
    early_stopping_patience: int = 0
    early_stopping_min_delta: float = 0.0

    # --- conversion ----------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "TrainConfig":
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError([f"unknown training option(s) {unknown}; known options: {sorted(known)}"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["target_modules"] = self.target_modules_value()
        if self.objective == "sft":  # an SFT run reads as it did before DPO existed: same run folder, resumable
            for k in DPO_ONLY:
                d.pop(k)
        if not self.eval_loss_every:  # likewise a run without early stopping reads as it did before it existed
            for k in EARLY_STOPPING:
                d.pop(k)
        return d

    def target_modules_value(self) -> str | list[str]:
        """``"all-linear"`` or a list of module names (a comma-separated string is split)."""
        tm = self.target_modules
        if isinstance(tm, str):
            parts = [p.strip() for p in tm.split(",") if p.strip()]
            return tm.strip() if len(parts) == 1 and parts[0] == "all-linear" else parts
        return [str(t).strip() for t in tm]

    def config_hash(self) -> str:
        """Fingerprint of everything that shapes the trajectory; a checkpoint is only resumed under the same one."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    # --- validation ----------------------------------------------------------------------------------------
    def validate(self, base_model_dir: Path | str | None = None, trust_remote_code: bool = False) -> list[str]:
        """Every problem with this configuration, as sentences that say what to change. Empty list: fine.

        ``trust_remote_code``: the base model's own (per-model, opted-in) code may run to read its config."""
        e: list[str] = []
        if self.lora_r <= 0:
            e.append(f"lora_r is {self.lora_r}: the LoRA rank must be a positive integer (typical: 8-64)")
        if self.lora_alpha <= 0:
            e.append(f"lora_alpha is {self.lora_alpha}: it must be positive (typical: 2 x lora_r)")
        if not 0 <= self.lora_dropout < 1:
            e.append(f"lora_dropout is {self.lora_dropout}: it must be in [0, 1)")
        if self.learning_rate <= 0:
            e.append(f"learning_rate is {self.learning_rate}: it must be positive (QLoRA typical: 1e-4 to 2e-3)")
        if self.lr_scheduler not in SCHEDULERS:
            e.append(f"lr_scheduler {self.lr_scheduler!r} is unknown; choose one of {list(SCHEDULERS)}")
        if self.quantization not in QUANTIZATIONS:
            e.append(f"quantization {self.quantization!r} is unknown; choose one of {list(QUANTIZATIONS)} "
                     "(nf4: QLoRA on a 4-bit base; none: LoRA on the base in its compute dtype)")
        if self.optimizer not in OPTIMIZERS:
            e.append(f"optimizer {self.optimizer!r} is unknown; choose one of {list(OPTIMIZERS)}")
        if self.max_steps <= 0:
            e.append(f"max_steps is {self.max_steps}: it must be at least 1")
        if self.warmup_steps < 0:
            e.append(f"warmup_steps is {self.warmup_steps}: it must be 0 or more")
        elif self.max_steps > 0 and self.warmup_steps > self.max_steps:
            e.append(f"warmup_steps ({self.warmup_steps}) exceeds max_steps ({self.max_steps}): the learning "
                     "rate would never reach its peak")
        if self.micro_batch_size <= 0:
            e.append(f"micro_batch_size is {self.micro_batch_size}: it must be at least 1")
        if self.gradient_accumulation_steps <= 0:
            e.append(f"gradient_accumulation_steps is {self.gradient_accumulation_steps}: it must be at least 1")
        if self.max_seq_len < 16:
            e.append(f"max_seq_len is {self.max_seq_len}: it must be at least 16 tokens to hold a chat turn")
        elif self.micro_batch_size > 0 and self._rows() * self.max_seq_len > self.max_batch_tokens:
            e.append(f"micro_batch_size x max_seq_len = {self._rows() * self.max_seq_len} tokens"
                     f"{' (x2 under dpo: chosen and rejected)' if self.objective == 'dpo' else ''} exceeds "
                     f"max_batch_tokens ({self.max_batch_tokens}); lower micro_batch_size and raise "
                     "gradient_accumulation_steps instead, or raise max_batch_tokens if the GPU has the memory")
        if self.save_every <= 0:
            e.append(f"save_every is {self.save_every}: it must be at least 1 (a checkpoint every N steps)")
        if self.weight_decay < 0:
            e.append(f"weight_decay is {self.weight_decay}: it must be 0 or more")
        if self.max_grad_norm < 0:
            e.append(f"max_grad_norm is {self.max_grad_norm}: it must be 0 (off) or positive")
        if not isinstance(self.seed, int) or self.seed < 0:
            e.append(f"seed is {self.seed!r}: it must be a non-negative integer")
        try:
            parse_budget(self.activation_memory)
        except (TypeError, ValueError):
            e.append(f"activation_memory is {self.activation_memory!r}: use auto, off or a positive number of "
                     "GiB, e.g. 12")
        if self.activation_offload not in ("auto", "off"):
            e.append(f"activation_offload is {self.activation_offload!r}: choose auto (the activation plan decides, "
                     "CUDA only) or off")
        for name in ("fused_loss", "liger_kernels", "frozen_in_compute_dtype", "flex_attention", "lean_lora"):
            if getattr(self, name) not in SWITCHES:
                meaning = ("the activation plan decides" if name == "lean_lora" else "on for CUDA GPUs, off on CPU")
                e.append(f"{name} is {getattr(self, name)!r}: choose one of {list(SWITCHES)} (auto: {meaning})")
        if self.objective not in OBJECTIVES:
            e.append(f"objective {self.objective!r} is unknown; choose one of {list(OBJECTIVES)}")
        if not self.beta > 0:
            e.append(f"beta is {self.beta}: it must be positive (DPO typical: 0.05-0.5; larger stays closer to "
                     "the reference)")
        if self.dpo_loss not in DPO_LOSSES:
            e.append(f"dpo_loss {self.dpo_loss!r} is unknown; choose one of {list(DPO_LOSSES)}")
        e += early_stopping_problems(self)
        if not isinstance(self.target_modules, (str, list, tuple)):
            e.append(f"target_modules is {self.target_modules!r}: use 'all-linear', 'q_proj,v_proj' or a list of "
                     "module names")
            return e
        tm = self.target_modules_value()
        if not tm:
            e.append("target_modules is empty: use 'all-linear' or name the modules, e.g. ['q_proj', 'v_proj']")
        if base_model_dir is not None:
            e += self._validate_against_model(Path(base_model_dir), tm, trust_remote_code)
        return e

    def _rows(self) -> int:
        return self.micro_batch_size * (2 if self.objective == "dpo" else 1)

    def check(self, base_model_dir: Path | str | None = None, trust_remote_code: bool = False) -> "TrainConfig":
        errors = self.validate(base_model_dir, trust_remote_code)
        if errors:
            raise ConfigError(errors)
        return self

    def _validate_against_model(self, base: Path, tm: str | list[str], trust_remote_code: bool) -> list[str]:
        if not base.is_dir():
            hint = (" It looks like a hub id: training runs offline, so materialise the base model first "
                    "(the base_model asset) and pass its local folder." if "/" in str(base) and not base.is_absolute()
                    else "")
            return [f"base model folder {str(base)!r} does not exist; it must be a local folder holding "
                    f"config.json, tokenizer files and safetensors weights.{hint}"]
        if not (base / "config.json").is_file():
            return [f"base model folder {str(base)!r} has no config.json; is it a Hugging Face model folder?"]
        try:
            from resources.training.model_modules import model_module_names

            model_cfg, linear, adaptable = model_module_names(base, trust_remote_code)
        except Exception as exc:  # an unreadable config is a configuration problem, not a crash
            hint = ("; the model ships its own code: set base.trust_remote_code: true if you trust its origin"
                    if "trust_remote_code" in str(exc) and not trust_remote_code else "")
            return [f"base model {str(base)!r}: could not read its config ({type(exc).__name__}: {exc}){hint}"]
        e = []
        limit = getattr(model_cfg, "max_position_embeddings", None)
        if limit and self.max_seq_len > limit:
            e.append(f"max_seq_len ({self.max_seq_len}) exceeds the model's max_position_embeddings ({limit})")
        if isinstance(tm, list):
            unknown = [t for t in tm if not any(n == t or n.endswith("." + t) for n in adaptable)]
            if unknown:
                e.append(f"target_modules {unknown} not found in {type(model_cfg).__name__.replace('Config', '')} "
                         f"({base.name}); its linear layers are {sorted(linear)}")
        elif tm != "all-linear":
            e.append(f"target_modules {tm!r}: use 'all-linear' or a list of module names")
        return e
