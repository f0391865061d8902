"""Training precision plan: which dtype the frozen base weights are stored in, which dtype the
matmuls run in, and why (the CPU's native bf16 path from :mod:`node0_ops.models.cpu`).

Layouts (LoRA master weights, their gradients and the AdamW moments are fp32 in every layout)::

    plan.layout       device  precision            base linear weights  embeddings+norms  matmuls
    fp32              cpu     fp32 | auto, no bf16 fp32                 fp32              fp32
    cpu_bf16          cpu     auto with AMX bf16 / bf16  bf16           fp32              bf16 autocast
                              avx512_bf16, or bf16
    cuda_bf16         cuda    auto | bf16          bf16                 bf16              bf16
    fp32              cuda    fp32                 fp32                 fp32              fp32

``cpu_bf16`` stores every frozen ``nn.Linear`` of the base (q/k/v/o/gate/up/down, an untied LM
head) in bf16, so autocast has no weight to cast per forward (no fp32 copy in memory, half the
weight bytes) and the matmuls hit the CPU's bf16 units (AMX tiles or avx512_bf16 dot products
through oneDNN). Each such linear hands its output back in fp32, so the LoRA delta is added in
fp32 (in bf16 the first updates are rounded away and the run learns measurably slower than fp32;
plain bf16 autocast over fp32 weights has that problem). The token embedding (tied to the LM head in SmolLM2/Qwen2.5) and the RMSNorm
weights stay fp32, so the residual stream stays fp32 as under plain autocast (mixed precision as
in Micikevicius et al. 2018, "Mixed Precision Training"; bf16 format: Kalamkar et al. 2019).
Merging/export never uses this copy: :mod:`node0_ops.export.merge` reloads the fp32 base from disk.

Usage::

    plan = precision_plan("auto", "cpu")          # PrecisionPlan(layout='cpu_bf16', ...)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=plan.load_dtype())
    apply_plan(model, plan)                       # casts frozen linears to bf16 (cpu_bf16)
    plan.to_dict()                                # recorded in run metrics and adapter metadata
"""

from dataclasses import asdict, dataclass

LAYOUTS = ("fp32", "cpu_bf16", "cuda_bf16")


@dataclass(frozen=True)
class PrecisionPlan:
    """How one run stores and computes (see the module table).

    Attributes:
        requested: the config's ``precision`` (auto | fp32 | bf16).
        device: ``cpu`` or ``cuda``.
        layout: ``fp32`` | ``cpu_bf16`` | ``cuda_bf16``.
        weight_dtype: dtype name of the frozen base linear weights (``float32``/``bfloat16``).
        autocast_dtype: dtype name the forward runs under (``bfloat16``) or None (no autocast).
        fp32_modules: base modules kept fp32 (``embeddings``, ``norms``) in ``cpu_bf16``.
        lora_dtype: dtype of LoRA weights, gradients and optimizer state (always ``float32``).
        cpu_bf16_path: the CPU's bf16 path from the probe (``amx_bf16``/``avx512_bf16``/``none``).
        cpu: one-line CPU summary (:meth:`CpuFeatures.summary`).
        reason: why this layout was chosen (for logs).
    """

    requested: str
    device: str
    layout: str
    weight_dtype: str
    autocast_dtype: str | None
    fp32_modules: tuple = ()
    lora_dtype: str = "float32"
    cpu_bf16_path: str = "none"
    cpu: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fp32_modules"] = list(self.fp32_modules)
        return d

    def load_dtype(self):
        """torch dtype to pass to ``from_pretrained`` (fp32 on CPU: linears are cast after loading,
        so the fp32 embeddings/norms keep their full on-disk precision)."""
        import torch

        return torch.bfloat16 if self.layout == "cuda_bf16" else torch.float32

    def autocast(self):
        """torch dtype for ``torch.autocast`` or None."""
        import torch

        return getattr(torch, self.autocast_dtype) if self.autocast_dtype else None


def precision_plan(precision: str, device: str, features=None) -> PrecisionPlan:
    """The layout for ``precision`` (auto | fp32 | bf16) on ``device`` (cpu | cuda).

    ``features``: a :class:`node0_ops.models.cpu.CpuFeatures` (default: this machine's probe).
    ``auto`` on CPU picks ``cpu_bf16`` only when the CPU has native bf16 (AMX bf16 or
    avx512_bf16), else fp32; ``bf16`` on CPU forces ``cpu_bf16`` even without (emulated, slow).

    Raises:
        ValueError: unknown precision or device.
    """
    from node0_ops.models.cpu import cpu_features

    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision={precision!r} must be auto, fp32 or bf16")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} must be cpu or cuda")
    f = features or cpu_features()
    common = {"requested": precision, "device": device, "cpu_bf16_path": f.bf16_path, "cpu": f.summary()}
    if precision == "fp32":
        return PrecisionPlan(layout="fp32", weight_dtype="float32", autocast_dtype=None, reason="precision=fp32",
                             **common)
    if device == "cuda":
        return PrecisionPlan(layout="cuda_bf16", weight_dtype="bfloat16", autocast_dtype=None,
                             reason=f"precision={precision} on CUDA: bf16 weights", **common)
    if precision == "bf16" or f.native_bf16:
        why = (f"CPU bf16 path {f.bf16_path}" if f.native_bf16
               else "precision=bf16 forced on a CPU without native bf16 (emulated, slower than fp32)")
        return PrecisionPlan(layout="cpu_bf16", weight_dtype="bfloat16", autocast_dtype="bfloat16",
                             fp32_modules=("embeddings", "norms"), reason=why, **common)
    return PrecisionPlan(layout="fp32", weight_dtype="float32", autocast_dtype=None,
                         reason="precision=auto: this CPU has no native bf16 (no amx_bf16/avx512_bf16)", **common)


def bf16_linear_names(model) -> list[str]:
    """Names of the ``nn.Linear`` modules :func:`apply_plan` stores in bf16: every linear whose
    weight is not the (tied) input embedding."""
    import torch

    emb = model.get_input_embeddings().weight
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.weight is not emb]


def apply_plan(model, plan: PrecisionPlan):
    """Cast a freshly loaded base (before any LoRA is attached) to ``plan``'s layout, in place.

    ``cpu_bf16``: every frozen linear (see :func:`bf16_linear_names`) to bf16, with hooks that
    run it as ``linear(x.bf16()).float()``: the bf16 matmul, its output back in fp32 (so LoRA
    deltas are summed in fp32, see :func:`_cast_output_to_fp32`, and the model also runs without
    autocast); embeddings and norms stay as loaded (fp32). Other layouts: unchanged (``from_pretrained`` already used
    :meth:`PrecisionPlan.load_dtype`). Returns ``model``.

    Raises:
        ValueError: the model already carries LoRA layers (cast the base first, LoRA stays fp32).
    """
    import torch

    if plan.layout != "cpu_bf16":
        return model
    if any("lora_" in n for n, _ in model.named_parameters()):
        raise ValueError("apply_plan must run on the bare base before LoRA adapters are attached")
    for name in bf16_linear_names(model):
        mod = model.get_submodule(name).to(torch.bfloat16)
        mod.register_forward_pre_hook(_cast_input_to_weight_dtype)
        mod.register_forward_hook(_cast_output_to_fp32)
    return model


def _cast_input_to_weight_dtype(module, args):
    """Forward pre-hook of a bf16 linear: outside autocast (generation, tests) cast the input to
    bf16; under autocast do nothing (autocast casts it)."""
    x = args[0]
    if torch_autocast_on(x) or not x.is_floating_point() or x.dtype == module.weight.dtype:
        return None
    return (x.to(module.weight.dtype),) + tuple(args[1:])


def _cast_output_to_fp32(module, args, output):
    """Forward hook of a bf16 linear: return its output in fp32, so the LoRA delta PEFT adds to it
    (``W x + s B A x``) is summed in fp32. Summed in bf16 (plain autocast), early LoRA updates are
    a fraction of one bf16 ulp of ``W x`` and get rounded away: measured on SmolLM2-135M, 2 LoRA
    steps at lr 5e-4, val loss 3.213 (bf16 sum) vs 3.046 (fp32 sum) vs 3.044 (all fp32)."""
    import torch

    return output.float() if output.dtype != torch.float32 else None


def torch_autocast_on(x) -> bool:
    """Whether autocast is enabled for ``x``'s device type."""
    import torch

    return torch.is_autocast_enabled(x.device.type)


def lora_to_fp32(model) -> int:
    """Make every LoRA parameter fp32 (master weights; gradients and AdamW moments follow their
    dtype). Returns how many tensors were cast (0 when PEFT already kept them fp32)."""
    import torch

    n = 0
    for name, p in model.named_parameters():
        if "lora_" in name and p.dtype != torch.float32:
            p.data = p.data.to(torch.float32)
            n += 1
    return n


def weight_dtypes(model) -> dict[str, int]:
    """Parameter count per ``<group>:<dtype>`` (groups ``lora``, ``linear``, ``other``), for
    checks and metadata, e.g. ``{'linear:torch.bfloat16': 106e6, 'other:torch.float32': 28e6,
    'lora:torch.float32': 4.9e6}``."""
    import torch

    emb = id(model.get_input_embeddings().weight)
    linears = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)} - {emb}
    out: dict[str, int] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        group = "lora" if "lora_" in name else "linear" if id(p) in linears else "other"
        key = f"{group}:{p.dtype}"
        out[key] = out.get(key, 0) + p.numel()
    return out
