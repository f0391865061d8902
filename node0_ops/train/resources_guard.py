"""Memory guard: estimate what a LoRA run needs before loading the model, refuse if it cannot fit.

Estimate (bytes) for a llama-shaped decoder (read from the base folder's ``config.json``)::

    weights      = n_params * bytes(dtype)            (0.5 B/param + 10% for 4-bit NF4)
    lora         = n_lora * 4 * (1 weight + 1 grad + 2 AdamW moments)
    activations  = layers * seq * hidden * FACTOR * bytes(act)        (no gradient checkpointing)
                 = layers * seq * hidden * bytes(act) + seq * hidden * FACTOR * bytes(act)   (with)
    logits       = seq * vocab * 4 * 2                (fp32 logits + their gradient)
    casts        = n_params * 2                       (CPU bf16 autocast: the bf16 weight copies
                                                       autograd keeps for the backward pass)
    runtime      = 0.7 GB on CPU (python, torch, transformers), 0.6 GB CUDA context on GPU

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

from node0_ops.models.base import cpu_bf16_autocast

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

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v / GB:.2f} GB" for k, v in asdict(self).items()
                          if k not in ("total", "free") and v)
        return f"{self.total / GB:.2f} GB ({parts})"


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
    n = vocab * h + layers * per_layer + h + (0 if config.get("tie_word_embeddings", True) else vocab * h)
    return {"params": n, "hidden": h, "layers": layers, "heads": heads, "kv_heads": kv, "head_dim": hd,
            "intermediate": inter, "vocab": vocab}


def estimate_memory(cfg, model_config: dict, device: str = "cpu", kind: str = "sft",
                    weight_bytes: float | None = None, autocast_bf16: bool = False) -> MemoryEstimate:
    """Estimate the peak memory of a run (see the module docstring for the formula).

    ``autocast_bf16``: the run uses CPU bf16 autocast over fp32 weights (adds the cast copies).
    """
    s = model_shape(model_config)
    if cfg.quantization == "4bit":
        wb = 0.55
    elif weight_bytes is not None:
        wb = weight_bytes
    else:
        wb = 2 if (device == "cuda" and cfg.precision in ("auto", "bf16")) else 4
    ab = 2 if wb <= 2 else 4
    seq = cfg.max_seq_len * (2 if kind == "dpo" else 1)
    n_lora = cfg.lora.n_params(s["hidden"], s["intermediate"], s["layers"], s["heads"], s["kv_heads"], s["head_dim"])
    weights = int(s["params"] * wb)
    lora = n_lora * 4 * 4
    per_layer = seq * s["hidden"] * ab
    if cfg.gradient_checkpointing:
        acts = int(s["layers"] * per_layer + per_layer * FACTOR)
    else:
        acts = int(s["layers"] * per_layer * FACTOR)
    logits = seq * s["vocab"] * 4 * 2
    runtime = RUNTIME_CUDA if device == "cuda" else RUNTIME_CPU
    casts = int(s["params"] * 2) if autocast_bf16 and device != "cuda" else 0
    total = weights + lora + acts + logits + runtime + casts
    return MemoryEstimate(weights, lora, acts, logits, runtime, total, casts=casts)


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


def _fits(cfg, model_config, device, kind, budget, autocast_bf16=False) -> bool:
    return estimate_memory(cfg, model_config, device, kind, autocast_bf16=autocast_bf16).total <= budget


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
    ac = device != "cuda" and cpu_bf16_autocast(cfg.precision)
    est = estimate_memory(cfg, model_config, device, kind, autocast_bf16=ac)
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
        if _fits(replace(cfg, max_seq_len=seq), model_config, device, kind, budget, ac):
            fit_seq = seq
            break
    if fit_seq:
        lo, hi = fit_seq, cfg.max_seq_len
        while hi - lo > 64:
            mid = (lo + hi) // 2 // 64 * 64
            if mid <= lo:
                break
            if _fits(replace(cfg, max_seq_len=mid), model_config, device, kind, budget, ac):
                lo = mid
            else:
                hi = mid
        tips.append(f"max_seq_len={lo} fits (--max-seq-len {lo})")
    if not cfg.gradient_checkpointing:
        if _fits(replace(cfg, gradient_checkpointing=True), model_config, device, kind, budget, ac):
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
