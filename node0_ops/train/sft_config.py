"""SFT (supervised fine-tuning) config for LoRA role and task adapters.

Usage::

    from node0_ops.train.sft_config import SFTConfig
    cfg = SFTConfig(max_steps=20, learning_rate=2e-4)
    cfg = SFTConfig.from_yaml("sft.yaml", ["--lora.r", "8", "--max-steps", "20"])
"""

from dataclasses import dataclass

from node0_ops.train.common_config import TrainConfigBase


@dataclass
class SFTConfig(TrainConfigBase):
    """LoRA SFT settings (all of :class:`TrainConfigBase` plus packing options).

    Attributes:
        packing: concatenate examples into rows of up to ``max_seq_len`` tokens with
            ``position_ids`` restarting at 0 per example (no padding, no cross-example
            attention); False puts one example per row.
        packing_bucket: first-fit-decreasing packs within buckets of this many shuffled
            examples (0: the whole epoch in one bucket = tightest packing).
        truncate_long: examples longer than ``max_seq_len`` are cut to it (True) or
            dropped and counted (False).
        loss_on_label_positions_only: run the LM head only on positions that have a label
            (assistant tokens). Same loss and gradients, less compute (the 49k-vocab head is
            ~20% of SmolLM2's FLOPs).
    """

    packing: bool = True
    packing_bucket: int = 0
    truncate_long: bool = True
    loss_on_label_positions_only: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.packing_bucket < 0:
            raise ValueError(f"packing_bucket={self.packing_bucket!r} must be >= 0 (0 packs the whole epoch at once)")
