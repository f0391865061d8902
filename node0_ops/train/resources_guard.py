"""Memory guard: estimate what a LoRA run needs before loading the model, refuse if it cannot fit.

Estimate (bytes) for a llama-shaped decoder (read from the base folder's ``config.json``)::

    weights      = n_params * bytes(dtype)            (0.5 B/param + 10% for 4-bit NF4)
                 = n_linear * 2 + n_other * 4         (layout cpu_bf16: frozen linears bf16,
                                                       embeddings + norms fp32)
    lora         = n_lora * 4 * (1 weight + 1 grad + 2 AdamW moments)
    activations  = layers * seq * hidden * FACTOR * bytes(act)        (no gradient checkpointing)
                 = layers * seq * hidden * bytes(act) + seq * hidden * FACTOR * bytes(act)   (with)
    logits       = seq * vocab * 4 * 2                (fp32 logits + their gradient)
    casts        = bf16 copies of fp32 weights that autocast makes and autograd keeps for the
                   backward pass: n_params * 2 for fp32 weights under autocast (``autocast_bf16``);
                   vocab * hidden * 2 in cpu_bf16 with a tied LM head (the fp32 embedding), else 0
    runtime      = 0.7 GB on CPU (python, torch, transformers), 0.6 GB CUDA context on GPU

The layout is the run's :func:`node0_ops.train.precision.precision_plan` (``check_memory``) or
the ``layout`` argument (``estimate_memory``; default fp32 on CPU, cuda_bf16 on CUDA unless
precision=fp32). bytes(act) is 4 on CPU in every layout (cpu_bf16 keeps the residual stream and
norms fp32).

``FACTOR`` = 40 floats per layer x token x hidden unit: calibrated on SmolLM2-135M (seq 512, fp32,
LoRA r=16 on all projections, peak RSS ~2.7 GB without / ~1.8 GB with gradient checkpointing,
environment notes). ``seq`` is ``max_seq_len`` for SFT and ``2 * max_seq_len`` for DPO (chosen +
rejected in one packed row). Free memory is ``MemAvailable`` from ``/proc/meminfo`` on CPU and
``torch.cuda.mem_get_info`` on CUDA; 10% is kept as headroom.

Usage::

    est = check_memory(cfg, base_folder, device="cpu")              # raises InsufficientMemory
    est = estimate_memory(cfg, model_config_dict, device="cpu", kind="sft")
"""

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from node0_ops.train.precision import precision_plan

GB = 1024 ** 3
FACTOR = 40.0
HEADROOM = 0.9
RUNTIME_CPU = int(0.7 * GB)
RUNTIME_CUDA = int(0.6 * GB)


class InsufficientMemory(MemoryError):
    """The run would not fit; the message says what would (shorter max_seq_len, gradient
    checkpointing, smaller base, QLoRA on GPU)."""


@dataclass
class MemoryEstimate:
    """Bytes per component and the total; ``free`` is what the guard compared against."""

    weights: int
    lora: int
    activations: int
    logits: int
    runtime: int
    total: int
    casts: int = 0
    free: int | None = None
    layout: str = "fp32"

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v / GB:.2f} GB" for k, v in asdict(self).items()
                          if k not in ("total", "free", "layout") and v)
        return f"{self.total / GB:.2f} GB ({parts}; layout {self.layout})"


def model_shape(config: dict) -> dict:
    """Sizes of a llama/qwen2-like config: params, hidden, layers, vocab, heads."""
    h = config["hidden_size"]
    layers = config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    hd = config.get("head_dim") or h // heads
    inter = config["intermediate_size"]
    vocab = config["vocab_size"]
    per_layer = h * heads * hd * 2 + h * kv * hd * 2 + 3 * h * inter + 2 * h
    tied = config.get("tie_word_embeddings", True)
    n = vocab * h + layers * per_layer + h + (0 if tied else vocab * h)
    linear = layers * (h * heads * hd * 2 + h * kv * hd * 2 + 3 * h * inter) + (0 if tied else vocab * h)
    return {"params": n, "hidden": h, "layers": layers, "heads": heads, "kv_heads": kv, "head_dim": hd,
            "intermediate": inter, "vocab": vocab, "linear_params": linear, "tied": bool(tied)}


def estimate_memory(cfg, model_config: dict, device: str = "cpu", kind: str = "sft",
                    weight_bytes: float | None = None, autocast_bf16: bool = False,
                    layout: str | None = None) -> MemoryEstimate:
    """Estimate the peak memory of a run (see the module docstring for the formula).

    ``layout``: ``fp32`` | ``cpu_bf16`` | ``cuda_bf16`` (:mod:`node0_ops.train.precision`); None
    means fp32 on CPU and cuda_bf16 on CUDA (fp32 when ``cfg.precision == "fp32"``).
    ``autocast_bf16``: fp32 weights under CPU bf16 autocast (adds a bf16 copy of every weight).
    ``weight_bytes`` overrides the bytes per base parameter.

    Raises:
        ValueError: unknown layout.
    """
    s = model_shape(model_config)
    if layout is None:
        layout = "cuda_bf16" if (device == "cuda" and cfg.precision in ("auto", "bf16")) else "fp32"
    if layout not in ("fp32", "cpu_bf16", "cuda_bf16"):
        raise ValueError(f"layout={layout!r} must be fp32, cpu_bf16 or cuda_bf16")
    if cfg.quantization == "4bit":
        wb = 0.55
    elif weight_bytes is not None:
        wb = weight_bytes
    else:
        wb = 2 if layout == "cuda_bf16" else 4
    ab = 2 if wb <= 2 else 4
    seq = cfg.max_seq_len * (2 if kind == "dpo" else 1)
    n_lora = cfg.lora.n_params(s["hidden"], s["intermediate"], s["layers"], s["heads"], s["kv_heads"], s["head_dim"])
    if layout == "cpu_bf16" and weight_bytes is None and cfg.quantization != "4bit":
        weights = int(s["linear_params"] * 2 + (s["params"] - s["linear_params"]) * 4)
        casts = s["vocab"] * s["hidden"] * 2 if s["tied"] else 0
        # the base loads in fp32 and its linears are then cast to bf16: the peak also holds the fp32
        # originals (measured under load: SmolLM2 peak RSS 3.35 GB vs 2.63 GB from the steady state)
        casts += int(s["linear_params"] * 4)
    else:
        weights = int(s["params"] * wb)
        casts = int(s["params"] * 2) if autocast_bf16 and device != "cuda" else 0
    lora = n_lora * 4 * 4
    per_layer = seq * s["hidden"] * ab
    if cfg.gradient_checkpointing:
        acts = int(s["layers"] * per_layer + per_layer * FACTOR)
    else:
        acts = int(s["layers"] * per_layer * FACTOR)
    logits = seq * s["vocab"] * 4 * 2
    runtime = RUNTIME_CUDA if device == "cuda" else RUNTIME_CPU
    total = weights + lora + acts + logits + runtime + casts
    return MemoryEstimate(weights, lora, acts, logits, runtime, total, casts=casts, layout=layout)


def free_memory(device: str = "cpu") -> int:
    """Free bytes: ``MemAvailable`` (CPU) or free VRAM of the current CUDA device."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemAvailable line; pass free_bytes= explicitly")


def _fits(cfg, model_config, device, kind, budget) -> bool:
    return estimate_memory(cfg, model_config, device, kind, layout=_layout(cfg, device)).total <= budget


def _layout(cfg, device: str) -> str:
    """The layout the trainer will use for ``cfg`` on ``device`` (4-bit QLoRA: CUDA bf16 compute)."""
    return precision_plan(cfg.precision, "cuda" if device == "cuda" else "cpu").layout


def check_memory(cfg, base: str | Path | dict, device: str = "cpu", kind: str = "sft",
                 free_bytes: int | None = None) -> MemoryEstimate:
    """Raise :class:`InsufficientMemory` when the estimate exceeds 90% of free memory.

    Args:
        cfg: SFTConfig or DPOConfig.  base: HF base folder or its ``config.json`` as a dict.
        free_bytes: override the measured free memory (tests, planning for another machine).
    Returns:
        The estimate (with ``free`` filled) when it fits.
    """
    model_config = base if isinstance(base, dict) else json.loads((Path(base) / "config.json").read_text())
    est = estimate_memory(cfg, model_config, device, kind, layout=_layout(cfg, device))
    free = free_memory(device) if free_bytes is None else int(free_bytes)
    est.free = free
    budget = free * HEADROOM
    if est.total <= budget:
        return est
    where = "free VRAM" if device == "cuda" else "available RAM (MemAvailable)"
    tips = []
    seq = cfg.max_seq_len
    fit_seq = None
    while seq > 64:
        seq = max(64, (seq // 2) // 64 * 64 or 64)
        if _fits(replace(cfg, max_seq_len=seq), model_config, device, kind, budget):
            fit_seq = seq
            break
    if fit_seq:
        lo, hi = fit_seq, cfg.max_seq_len
        while hi - lo > 64:
            mid = (lo + hi) // 2 // 64 * 64
            if mid <= lo:
                break
            if _fits(replace(cfg, max_seq_len=mid), model_config, device, kind, budget):
                lo = mid
            else:
                hi = mid
        tips.append(f"max_seq_len={lo} fits (--max-seq-len {lo})")
    if not cfg.gradient_checkpointing:
        if _fits(replace(cfg, gradient_checkpointing=True), model_config, device, kind, budget):
            tips.append("gradient_checkpointing=true fits at the same max_seq_len (--gradient-checkpointing, ~1.5x slower)")
    if device == "cuda" and cfg.quantization != "4bit":
        if _fits(replace(cfg, quantization="4bit"), model_config, device, kind, budget):
            tips.append("QLoRA fits on this GPU (--quantization 4bit, needs bitsandbytes)")
    if model_shape(model_config)["params"] > 200e6:
        tips.append("a smaller base fits better (--base smollm2-135m)")
    if not tips:
        tips.append("no setting of this base fits: free memory, use a smaller base (--base smollm2-135m) or a bigger machine")
    raise InsufficientMemory(f"this {kind} run needs about {est.describe()} but only {free / GB:.2f} GB of {where} "
                             f"is free ({HEADROOM:.0%} usable). What would fit: " + "; ".join(tips))
