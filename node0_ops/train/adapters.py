"""Base-model loading, PEFT LoRA adapters (new, stacked role+task, DPO) and the adapter folder format.

Adapter folder (stock PEFT layout, loads with ``PeftModel.from_pretrained``)::

    adapter_config.json          peft.LoraConfig
    adapter_model.safetensors    LoRA weights, PEFT key names (adapter name stripped)
    chat_template.jinja          node0_ops.train.chat_template.chat_template(), byte for byte
    gastown_adapter.json         metadata: kind role|task|dpo, role, task, parent adapter,
                                 base spec + base fingerprint, corpus version + hash,
                                 hyperparameters, chat template (+ sha256), metrics, run_id

Task adapters stack on a role adapter (PEFT multi-adapter, peft 0.21): the role adapter is loaded
under the name ``role`` with ``is_trainable=False``, the task adapter is added as ``task``, both
are activated with ``model.base_model.set_adapter(["role", "task"])`` (LoRA layers then sum both
deltas: ``W x + s_r B_r A_r x + s_t B_t A_t x``), and because ``set_adapter`` marks every active
adapter trainable, ``set_requires_grad("role", False)`` freezes the role adapter again. Only the
task weights reach the optimizer and the saved task adapter; at inference
:func:`load_adapter_stack` rebuilds base + role + task the same way.

Usage::

    model, tok, folder = load_base_model(cfg)
    pm = new_adapter(model, cfg.lora, "role")                      # role SFT
    pm = stack_task_adapter(model, role_dir, cfg.lora)             # task SFT on a frozen role
    save_adapter(pm, "task", out_dir, metadata)
    pm = load_adapter_stack(model, adapter_chain(out_dir))         # inference: base+role+task
"""

import copy
import hashlib
import importlib.util
import json
from pathlib import Path

import torch

from node0_ops.train.chat_template import chat_template, template_sha256

META_FILE = "gastown_adapter.json"
_FINGERPRINTS: dict[tuple, str] = {}


class QLoRAUnsupported(RuntimeError):
    """4-bit QLoRA was asked for where bitsandbytes cannot run it."""


def qlora_support(device: str) -> tuple[bool, str]:
    """Whether 4-bit QLoRA can run on ``device``: needs bitsandbytes installed and CUDA.

    Returns ``(ok, reason)``; the reason says what is missing and what to do instead.
    """
    if importlib.util.find_spec("bitsandbytes") is None:
        return False, ("quantization=4bit needs the bitsandbytes package, which is not installed; "
                       "install it on a CUDA machine, or use quantization=none (LoRA on fp32/bf16 weights)")
    if device != "cuda":
        return False, ("quantization=4bit (QLoRA) needs a CUDA GPU: bitsandbytes 4-bit kernels do not run on "
                       f"device={device}; use quantization=none, gradient_checkpointing=true or a shorter max_seq_len")
    return True, "ok"


def resolve_precision(cfg, device: str | None = None):
    """The :class:`~node0_ops.train.precision.PrecisionPlan` of a config (device ``auto`` resolved:
    cuda when present). ``device`` overrides ``cfg.device``.

    ``auto`` on CPU: frozen base linears in bf16 under bf16 autocast when the CPU has native bf16
    (AMX bf16 or avx512_bf16, :func:`node0_ops.models.cpu.cpu_features`), else plain fp32; on CUDA
    bf16 weights. ``fp32`` forces fp32 everywhere; ``bf16`` forces bf16. LoRA weights, gradients
    and AdamW states stay fp32 in every mode.

    Raises:
        RuntimeError: ``device=cuda`` without CUDA.
    """
    from node0_ops.models.base import pick_device
    from node0_ops.train.precision import precision_plan

    want = device or (None if cfg.device == "auto" else cfg.device)
    dev, _ = pick_device(want)
    return precision_plan(cfg.precision, dev)


def resolve_device(cfg) -> tuple[str, torch.dtype, torch.dtype | None]:
    """``(device, base_linear_weight_dtype, autocast_dtype_or_None)`` of :func:`resolve_precision`."""
    plan = resolve_precision(cfg)
    return plan.device, getattr(torch, plan.weight_dtype), plan.autocast()


def load_base_model(cfg, device: str | None = None):
    """Load ``(model, tokenizer, base_folder)`` for ``cfg.base`` ready for LoRA training.

    varlen sdpa attention (:mod:`node0_ops.train.varlen_attention`: one causal SDPA call per packed
    example), ``use_cache`` off (needed for packed rows), gradient checkpointing when asked
    (non-reentrant), 4-bit NF4 weights when ``cfg.quantization == "4bit"``. Weight layout from
    :func:`resolve_precision` (:mod:`node0_ops.train.precision`): on a CPU with native bf16 the
    frozen linears are stored in bf16, embeddings and norms in fp32.

    Raises:
        QLoRAUnsupported: 4-bit asked for without bitsandbytes + CUDA (message says what to use).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from node0_ops.models.base import resolve_base

    from node0_ops.train.varlen_attention import register

    from node0_ops.train.precision import apply_plan

    folder = resolve_base(cfg.base)
    plan = resolve_precision(cfg, device)
    dev = plan.device
    kwargs = {"dtype": plan.load_dtype(), "attn_implementation": register()}
    if cfg.quantization == "4bit":
        ok, why = qlora_support(dev)
        if not ok:
            raise QLoRAUnsupported(why)
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=torch.bfloat16,
                                                           bnb_4bit_use_double_quant=True)
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    if cfg.quantization == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    else:
        model = apply_plan(model, plan).to(dev)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    tok = AutoTokenizer.from_pretrained(str(folder))
    return model, tok, folder


def _n_layers(model) -> int | None:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "num_hidden_layers", None)


def new_adapter(model, lora, name: str):
    """Wrap ``model`` with a fresh trainable LoRA adapter called ``name`` (``peft.get_peft_model``)."""
    from peft import get_peft_model

    from node0_ops.train.precision import lora_to_fp32

    pm = get_peft_model(model, lora.to_peft(_n_layers(model)), adapter_name=name)
    lora_to_fp32(pm)  # PEFT keeps LoRA fp32 over bf16 bases (autocast_adapter_dtype); make it a guarantee
    return pm


def load_trainable(model, adapter_dir: str | Path, name: str):
    """Wrap ``model`` with a saved adapter loaded as trainable under ``name`` (DPO from a role adapter)."""
    from peft import PeftModel

    from node0_ops.train.precision import lora_to_fp32

    pm = PeftModel.from_pretrained(model, str(adapter_dir), adapter_name=name, is_trainable=True)
    lora_to_fp32(pm)
    return pm


def stack_task_adapter(model, role_dir: str | Path, lora, role_name: str = "role", task_name: str = "task"):
    """base + frozen role adapter + new trainable task adapter, both active (see module doc)."""
    from peft import PeftModel

    pm = PeftModel.from_pretrained(model, str(role_dir), adapter_name=role_name, is_trainable=False)
    pm.add_adapter(task_name, lora.to_peft(_n_layers(pm)))
    pm.base_model.set_adapter([role_name, task_name])
    pm.base_model.set_requires_grad(role_name, requires_grad=False)
    pm.base_model.set_requires_grad(task_name, requires_grad=True)
    from node0_ops.train.precision import lora_to_fp32

    lora_to_fp32(pm)
    return pm


def add_frozen(pm, adapter_dir: str | Path, name: str) -> None:
    """Load another saved adapter into ``pm`` under ``name``, frozen and not active."""
    active = list(pm.base_model.active_adapters)
    pm.load_adapter(str(adapter_dir), adapter_name=name, is_trainable=False)
    pm.base_model.set_adapter(active)
    pm.base_model.set_requires_grad(name, requires_grad=False)
    for a in active:
        if a in trainable_adapter_names(pm):
            pm.base_model.set_requires_grad(a, requires_grad=True)
    from node0_ops.train.precision import lora_to_fp32

    lora_to_fp32(pm)


def trainable_adapter_names(pm) -> set[str]:
    """Adapters with at least one ``requires_grad`` parameter."""
    names = set()
    for n, p in pm.named_parameters():
        if p.requires_grad and "lora_" in n:
            names.add(n.split("lora_")[1].split(".")[1])
    return names


def trainable_parameters(pm) -> list[torch.nn.Parameter]:
    """Parameters the optimizer gets (LoRA weights of the trainable adapter only)."""
    return [p for p in pm.parameters() if p.requires_grad]


def optimizer_groups(pm, lr: float, lora_plus_ratio: float = 1.0) -> list[dict]:
    """AdamW parameter groups of the trainable LoRA weights: ``A`` (and anything else) at ``lr``,
    ``B`` at ``lora_plus_ratio * lr`` (LoRA+, Hayou et al. 2024; one group when the ratio is 1)."""
    named = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    if lora_plus_ratio == 1.0:
        return [{"params": [p for _, p in named], "lr": lr}]
    b = [p for n, p in named if ".lora_B." in n]
    rest = [p for n, p in named if ".lora_B." not in n]
    return [g for g in ({"params": rest, "lr": lr}, {"params": b, "lr": lr * lora_plus_ratio}) if g["params"]]


def adapter_state(pm, name: str) -> dict[str, torch.Tensor]:
    """LoRA weights of adapter ``name`` with PEFT's saved key names."""
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(pm, adapter_name=name)


def load_adapter_state(pm, name: str, state: dict[str, torch.Tensor]) -> None:
    """Copy saved LoRA weights into adapter ``name`` (exact, in place).

    Raises:
        ValueError: the state does not cover every LoRA weight of the adapter.
    """
    from peft import set_peft_model_state_dict

    res = set_peft_model_state_dict(pm, state, adapter_name=name)
    missing = [k for k in res.missing_keys if "lora_" in k and f".{name}." in k]
    if missing:
        raise ValueError(f"adapter state is missing {len(missing)} LoRA weights, e.g. {missing[0]}")


def adapter_config_dict(pm, name: str, base_folder: str | None = None) -> dict:
    """JSON-ready PEFT config of adapter ``name`` (inference_mode true, as PEFT saves it)."""
    cfg = copy.deepcopy(pm.peft_config[name])
    cfg.inference_mode = True
    if base_folder:
        cfg.base_model_name_or_path = str(base_folder)
    return json.loads(json.dumps(cfg.to_dict(), default=lambda o: sorted(o) if isinstance(o, set) else str(o)))


def save_adapter(pm, name: str, out_dir: str | Path, metadata: dict) -> Path:
    """Save adapter ``name`` in stock PEFT layout plus ``chat_template.jinja`` and ``gastown_adapter.json``.

    ``metadata`` is completed with the chat template string and its sha256.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu").contiguous() for k, v in adapter_state(pm, name).items()}
    save_file(sd, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    cfg = adapter_config_dict(pm, name, metadata.get("base_folder"))
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    (out / "chat_template.jinja").write_text(chat_template())
    meta = dict(metadata, chat_template=chat_template(), chat_template_sha256=template_sha256())
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return out


def read_metadata(adapter_dir: str | Path) -> dict:
    """``gastown_adapter.json`` of an adapter folder.

    Raises:
        FileNotFoundError: not an adapter folder written by :func:`save_adapter`.
    """
    p = Path(adapter_dir) / META_FILE
    if not p.exists():
        raise FileNotFoundError(f"{adapter_dir} has no {META_FILE}: not a gastown adapter folder")
    return json.loads(p.read_text())


def adapter_chain(adapter_dir: str | Path) -> list[Path]:
    """Adapter folders to stack for inference, outermost last: ``[role_dir, task_dir]`` for a task
    adapter (follows ``parent_adapter`` of kind ``task``), ``[dir]`` otherwise."""
    d = Path(adapter_dir)
    meta = read_metadata(d)
    if meta.get("kind") == "task" and meta.get("parent_adapter"):
        return adapter_chain(meta["parent_adapter"]) + [d]
    return [d]


def load_adapter_stack(model, adapter_dirs: list[str | Path]):
    """Load adapters (e.g. ``adapter_chain(task_dir)``) onto ``model``, all active and frozen."""
    from peft import PeftModel

    names = [f"a{i}" for i in range(len(adapter_dirs))]
    pm = PeftModel.from_pretrained(model, str(adapter_dirs[0]), adapter_name=names[0], is_trainable=False)
    for name, d in zip(names[1:], adapter_dirs[1:]):
        pm.load_adapter(str(d), adapter_name=name, is_trainable=False)
    pm.base_model.set_adapter(names)
    pm.base_model.set_requires_grad(names, requires_grad=False)
    pm.eval()
    return pm


def base_fingerprint(folder: str | Path) -> str:
    """16-hex sha256 over the base folder's file names and bytes (cached per process by size+mtime)."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    key = (str(root.resolve()),) + tuple((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(root)).encode() + b"\0")
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    h.update(chunk)
        _FINGERPRINTS[key] = h.hexdigest()[:16]
    return _FINGERPRINTS[key]
