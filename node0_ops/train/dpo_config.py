"""DPO (direct preference optimization) config for LoRA adapters.

Usage::

    from node0_ops.train.dpo_config import DPOConfig
    cfg = DPOConfig(beta=0.1, max_steps=10)
"""

from dataclasses import dataclass

from node0_ops.train.common_config import TrainConfigBase

REFERENCES = ("base", "role")


@dataclass
class DPOConfig(TrainConfigBase):
    """DPO settings (Rafailov et al. 2023, arXiv:2305.18290).

    Attributes:
        beta: KL strength of eq. 7 (larger keeps the policy closer to the reference); typical 0.05-0.5.
        reference: ``base`` = the same model with the adapter disabled (``disable_adapter()``;
            TRL's default for PEFT models), or ``role`` = a frozen copy of the starting role
            adapter (the SFT model, as in the paper).
        max_prompt_len: prompt tokens kept (from the end) so the response fits in ``max_seq_len``.
        learning_rate: DPO default 5e-5 (LoRA).
        gradient_accumulation_steps: preference pairs per optimizer step.
    """

    beta: float = 0.1
    reference: str = "base"
    max_prompt_len: int = 384
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.beta > 0:
            raise ValueError(f"beta={self.beta!r} must be > 0 (typical 0.1; larger = stay closer to the reference)")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference={self.reference!r} must be base (adapter disabled) or role (frozen SFT adapter)")
        if not 0 < self.max_prompt_len < self.max_seq_len:
            raise ValueError(f"max_prompt_len={self.max_prompt_len!r} must be in (0, max_seq_len={self.max_seq_len}) "
                             f"so some response tokens fit; e.g. {self.max_seq_len * 3 // 4}")
