"""Fields shared by :class:`~node0_ops.train.sft_config.SFTConfig` and
:class:`~node0_ops.train.dpo_config.DPOConfig` (optimizer, schedule, steps, device, checkpoints).

Not used on its own: each method has its own dataclass (TRL style), both inherit these fields
and their ``__post_init__`` validation.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from node0_ops.train import config_io
from node0_ops.train.lora_config import LoraConfig

SCHEDULERS = ("cosine", "linear", "constant")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
QUANTIZATIONS = ("none", "4bit")


@dataclass
class TrainConfigBase:
    """Optimizer/schedule/device settings common to SFT and DPO.

    Attributes:
        base: base model spec for :func:`node0_ops.models.base.resolve_base` (preset, .gguf or HF folder).
        lora: LoRA shape (:class:`LoraConfig`).
        learning_rate: peak AdamW learning rate (on LoRA parameters only).
        lr_scheduler: ``cosine`` | ``linear`` | ``constant`` decay after warmup.
        warmup_ratio: fraction of total optimizer steps spent in linear warmup (ignored when
            ``warmup_steps`` is set).
        warmup_steps: explicit warmup length in optimizer steps, or None.
        min_lr_ratio: floor of the decay as a fraction of ``learning_rate`` (0 = decay to 0).
        weight_decay, adam_beta1, adam_beta2, adam_epsilon: AdamW (Loshchilov & Hutter 2019).
        max_grad_norm: global L2 clip of the LoRA gradients (0 disables clipping; norm still logged).
        lora_plus_ratio: LoRA+ (Hayou, Ghosh & Yu 2024, "LoRA+: Efficient Low Rank Adaptation of Large
            Models", arXiv:2402.12354): the ``B`` matrices learn at ``lora_plus_ratio * learning_rate``,
            the ``A`` matrices at ``learning_rate`` (1 = plain LoRA; the paper uses 16 with a lower base lr).
        gradient_accumulation_steps: micro-batches (packed rows / pairs) per optimizer step.
        max_steps: optimizer steps to run; -1 means ``num_epochs`` passes over the data.
        max_minutes: wall-clock training budget in minutes (0 = none). After a few timed steps
            the run fixes its length to the steps that fit (never more than ``max_steps`` or the
            epochs), and the LR schedule warms up and decays over that length: the same command
            trains longer on a faster machine (AMX CPU, GPU) and still ends on a decayed LR.
        num_epochs: passes over the training data when ``max_steps`` is -1.
        max_seq_len: tokens per packed row (SFT) or per prompt+response (DPO).
        seed: seeds python, numpy and torch (LoRA init, shuffling, dropout).
        eval_every: evaluate on the val split every N optimizer steps (0: only at the end).
        checkpoint_every: save a resumable checkpoint every N optimizer steps (0: only on
            SIGTERM/SIGINT and at the end).
        save_total_limit: keep this many newest checkpoints (>= 1).
        gradient_checkpointing: recompute activations in backward (less memory, ~1.5x slower).
        device: ``auto`` (cuda when present), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 weights on cuda; on cpu, when the CPU has native bf16 (AMX
            bf16 or avx512_bf16), frozen base linears stored in bf16 under bf16 autocast with
            embeddings/norms fp32, else fp32), ``fp32``, or ``bf16``. LoRA weights, gradients and
            AdamW states stay fp32 in every mode (:mod:`node0_ops.train.precision`).
        quantization: ``none`` or ``4bit`` (QLoRA, Dettmers et al. 2023; needs bitsandbytes
            with a device it supports, CUDA here; refused otherwise).
        num_threads: torch intra-op threads (None: torch default).
        log_every: emit a step metrics row every N optimizer steps.
        check_memory: run the resource guard before loading the model.
    """

    base: str = "smollm2-135m"
    lora: LoraConfig = field(default_factory=LoraConfig)
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    lora_plus_ratio: float = 1.0
    gradient_accumulation_steps: int = 4
    max_steps: int = -1
    max_minutes: float = 0.0
    num_epochs: int = 1
    max_seq_len: int = 512
    seed: int = 42
    eval_every: int = 0
    checkpoint_every: int = 50
    save_total_limit: int = 2
    gradient_checkpointing: bool = False
    device: str = "auto"
    precision: str = "auto"
    quantization: str = "none"
    num_threads: int | None = None
    log_every: int = 1
    check_memory: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.lora, Mapping):
            self.lora = config_io.build(LoraConfig, self.lora)
        if not self.base:
            raise ValueError("base is empty; name a preset (smollm2-135m), a .gguf file or an HF folder")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate!r} must be > 0 (LoRA SFT: 1e-4..3e-4; DPO: 5e-6..5e-5)")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"lr_scheduler={self.lr_scheduler!r} must be one of {', '.join(SCHEDULERS)}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio={self.warmup_ratio!r} must be in [0, 1); e.g. 0.05")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"warmup_steps={self.warmup_steps!r} must be >= 0 or unset (then warmup_ratio applies)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio={self.min_lr_ratio!r} must be in [0, 1]")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay!r} must be >= 0")
        if not (0.0 <= self.adam_beta1 < 1.0 and 0.0 <= self.adam_beta2 < 1.0):
            raise ValueError(f"adam_beta1/adam_beta2 ({self.adam_beta1}, {self.adam_beta2}) must be in [0, 1); defaults 0.9/0.999")
        if self.adam_epsilon <= 0:
            raise ValueError(f"adam_epsilon={self.adam_epsilon!r} must be > 0; default 1e-8")
        if not self.lora_plus_ratio >= 1.0:
            raise ValueError(f"lora_plus_ratio={self.lora_plus_ratio!r} must be >= 1 (1 = plain LoRA; LoRA+ uses e.g. 16)")
        if self.max_grad_norm < 0:
            raise ValueError(f"max_grad_norm={self.max_grad_norm!r} must be >= 0 (0 disables clipping)")
        if self.gradient_accumulation_steps < 1:
            raise ValueError(f"gradient_accumulation_steps={self.gradient_accumulation_steps!r} must be >= 1")
        if not isinstance(self.max_minutes, (int, float)) or self.max_minutes < 0:
            raise ValueError(f"max_minutes={self.max_minutes!r} must be a number >= 0 (0 = no time budget); e.g. 10")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps={self.max_steps!r} must be a positive step count, or -1 to use num_epochs")
        if self.max_steps == -1 and self.num_epochs < 1:
            raise ValueError(f"num_epochs={self.num_epochs!r} must be >= 1 when max_steps is -1")
        if self.max_seq_len < 16:
            raise ValueError(f"max_seq_len={self.max_seq_len!r} is too short; use >= 16 (512 fits SmolLM2 on this CPU)")
        if self.eval_every < 0 or self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("eval_every and checkpoint_every must be >= 0 (0 = off) and log_every >= 1")
        if self.save_total_limit < 1:
            raise ValueError(f"save_total_limit={self.save_total_limit!r} must be >= 1 (resume needs a checkpoint)")
        if self.device not in DEVICES:
            raise ValueError(f"device={self.device!r} must be one of {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} must be one of {', '.join(PRECISIONS)}")
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization={self.quantization!r} must be none or 4bit (QLoRA, CUDA + bitsandbytes only)")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads={self.num_threads!r} must be >= 1 or unset")

    @classmethod
    def from_yaml(cls, path: str | Path | None = None,
                  overrides: Mapping[str, Any] | Sequence[str] | None = None):
        """Load from a node0-style YAML file (see :mod:`node0_ops.train.config_io`) plus overrides.

        Raises:
            ValueError: unknown field, wrong type, or a value rejected by ``__post_init__``.
            FileNotFoundError: ``path`` does not exist.
        """
        return config_io.from_yaml(cls, path, overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stored in ``train_runs.config`` and ``gastown_adapter.json``)."""
        return config_io.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Inverse of :meth:`to_dict`."""
        return config_io.build(cls, data)
