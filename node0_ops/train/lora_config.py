"""LoRA hyperparameters (rank, alpha, dropout, target modules) for SFT and DPO runs.

LoRA: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models" (arXiv:2106.09685):
a frozen weight ``W`` (out x in) gets a trainable update ``(lora_alpha / r) * B @ A`` with
``A`` (r x in), ``B`` (out x r), ``B`` initialised to zero so training starts from the base.

Usage::

    from node0_ops.train.lora_config import LoraConfig
    lora = LoraConfig(r=8, target_modules=("q_proj", "v_proj"))
    peft_cfg = lora.to_peft()          # peft.LoraConfig(task_type="CAUSAL_LM", ...)
"""

from dataclasses import dataclass, field

#: Every linear projection of a llama/qwen2 decoder block (attention + SwiGLU MLP).
ALL_PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraConfig:
    """LoRA adapter shape.

    Attributes:
        r: LoRA rank (int >= 1). 16 on all projections adds ~4.9M params to SmolLM2-135M.
        lora_alpha: scaling numerator; the update is scaled by ``lora_alpha / r`` (float > 0).
        lora_dropout: dropout on the LoRA input, in [0, 1). Default 0.0: with p=0 PEFT skips the
            dropout op entirely, which saves a copy of every projection input on CPU.
        target_modules: names of the ``nn.Linear`` modules that get LoRA (default all 7 projections).
        bias: ``none`` (PEFT default; other values train biases too).
        use_rslora: rank-stabilised scaling ``alpha / sqrt(r)`` (Kalajdzievski 2023).
        top_layers: put LoRA only on the top N decoder layers (0 = every layer). Backward then
            stops at the lowest adapted layer, so a step costs about ``1 + N/L`` forward passes
            instead of 2 (``L`` layers): Qwen2.5-0.5B with N=12 of 24 trains 1.4x more tokens/s
            on a 2-core CPU (``bench/quality.py`` measures the quality side). PEFT's
            ``layers_to_transform``.
    """

    r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = field(default_factory=lambda: ALL_PROJ)
    bias: str = "none"
    use_rslora: bool = False
    top_layers: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.target_modules, str):
            self.target_modules = tuple(m.strip() for m in self.target_modules.split(",") if m.strip())
        self.target_modules = tuple(self.target_modules)
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ValueError(f"lora.r={self.r!r} must be an integer >= 1 (typical: 8, 16, 32); e.g. --lora.r 16")
        if not self.lora_alpha or self.lora_alpha <= 0:
            raise ValueError(f"lora.lora_alpha={self.lora_alpha!r} must be > 0 (common choice: 2 * r); e.g. --lora.lora_alpha 32")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora.lora_dropout={self.lora_dropout!r} must be in [0, 1); use 0.0 to disable dropout")
        if not self.target_modules:
            raise ValueError(f"lora.target_modules is empty; name at least one linear layer, e.g. {','.join(ALL_PROJ)}")
        if not isinstance(self.top_layers, int) or isinstance(self.top_layers, bool) or self.top_layers < 0:
            raise ValueError(f"lora.top_layers={self.top_layers!r} must be an integer >= 0 (0 = every layer); e.g. --lora.top_layers 12")
        if self.bias not in ("none", "all", "lora_only"):
            raise ValueError(f"lora.bias={self.bias!r} must be one of none, all, lora_only (PEFT); use none")

    @property
    def scaling(self) -> float:
        """Multiplier applied to ``B @ A`` (``alpha/r``, or ``alpha/sqrt(r)`` with rsLoRA)."""
        return self.lora_alpha / (self.r ** 0.5 if self.use_rslora else self.r)

    def layer_indices(self, n_layers: int) -> list[int] | None:
        """Indices of the adapted decoder layers (None = all), for a model of ``n_layers`` layers.

        Raises:
            ValueError: ``top_layers`` exceeds ``n_layers``.
        """
        if not self.top_layers:
            return None
        if self.top_layers > n_layers:
            raise ValueError(f"lora.top_layers={self.top_layers} but the model has only {n_layers} decoder layers; "
                             f"use at most {n_layers} (or 0 for all)")
        return list(range(n_layers - self.top_layers, n_layers))

    def to_peft(self, n_layers: int | None = None):
        """Return the equivalent ``peft.LoraConfig`` (task_type ``CAUSAL_LM``).

        Args:
            n_layers: decoder layers of the model (needed when ``top_layers`` is set).

        Raises:
            ValueError: ``top_layers`` set without ``n_layers``, or larger than it.
        """
        import peft

        layers = None
        if self.top_layers:
            if n_layers is None:
                raise ValueError("lora.top_layers needs the model's layer count: call to_peft(model.config.num_hidden_layers)")
            layers = self.layer_indices(n_layers)
        return peft.LoraConfig(r=self.r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                               target_modules=list(self.target_modules), bias=self.bias,
                               use_rslora=self.use_rslora, task_type="CAUSAL_LM", layers_to_transform=layers)

    def n_params(self, hidden: int, intermediate: int, n_layers: int, n_heads: int, n_kv_heads: int,
                 head_dim: int | None = None) -> int:
        """Trainable LoRA parameters for a llama-shaped decoder: ``r * (in + out)`` per targeted module."""
        hd = head_dim or hidden // n_heads
        shapes = {"q_proj": (hidden, n_heads * hd), "k_proj": (hidden, n_kv_heads * hd),
                  "v_proj": (hidden, n_kv_heads * hd), "o_proj": (n_heads * hd, hidden),
                  "gate_proj": (hidden, intermediate), "up_proj": (hidden, intermediate),
                  "down_proj": (intermediate, hidden)}
        per_layer = sum(self.r * (i + o) for name, (i, o) in shapes.items() if name in self.target_modules)
        return per_layer * (min(self.top_layers, n_layers) if self.top_layers else n_layers)
