"""Read the trainer's adapter folders and the LoRA scale PEFT applies to each module.

An adapter folder is a stock PEFT LoRA save (``adapter_config.json`` +
``adapter_model.safetensors``) plus our ``gastown_adapter.json`` (keys ``base``,
``corpus_version``, ``hyperparameters``, ``chat_template``, ``metrics``, ``kind``
= ``role``/``task``/``dpo``, ``role``, ``task``; optional).

Usage::

    info = read_adapter(Path("artifacts/adapters/polecat"))
    info.kind, info.rank, info.lora_alpha, info.module_scale("model.layers.0.self_attn.q_proj")

Scale rule (PEFT ``LoraLayer.update_layer``, Hu et al. 2021 "LoRA", Kalajdzievski 2023 "rsLoRA"):
``scale = alpha / r`` or ``alpha / sqrt(r)`` with ``use_rslora``; ``rank_pattern`` / ``alpha_pattern``
override ``r`` / ``lora_alpha`` per module (regex ``(.*\\.)?(key)$``).
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
GASTOWN_META = "gastown_adapter.json"
ADAPTER_KINDS = ("role", "task", "dpo")


@dataclass
class AdapterInfo:
    """One PEFT LoRA adapter folder.

    Attributes:
        path: the folder.
        config: parsed ``adapter_config.json``.
        meta: parsed ``gastown_adapter.json`` (``{}`` when absent).
        name: a file-name-safe label: ``<kind>-<role|task>`` from the metadata, else the folder name.
    """

    path: Path
    config: dict
    meta: dict = field(default_factory=dict)
    name: str = ""

    @property
    def kind(self) -> str | None:
        return self.meta.get("kind")

    @property
    def rank(self) -> int:
        return int(self.config["r"])

    @property
    def lora_alpha(self) -> float:
        return float(self.config.get("lora_alpha", self.rank))

    @property
    def weights_path(self) -> Path:
        return self.path / ADAPTER_WEIGHTS

    def module_rank_alpha(self, module: str) -> tuple[int, float]:
        """``(r, alpha)`` PEFT uses for ``module`` (e.g. ``model.layers.0.self_attn.q_proj``)."""
        from peft.utils.other import get_pattern_key

        r, alpha = self.rank, self.lora_alpha
        rank_pattern = self.config.get("rank_pattern") or {}
        alpha_pattern = self.config.get("alpha_pattern") or {}
        if rank_pattern:
            key = get_pattern_key(list(rank_pattern), module)
            r = int(rank_pattern.get(key, r))
        if alpha_pattern:
            key = get_pattern_key(list(alpha_pattern), module)
            alpha = float(alpha_pattern.get(key, alpha))
        return r, alpha

    def module_scale(self, module: str) -> float:
        """The factor PEFT multiplies ``B @ A`` by for ``module`` (dimensionless)."""
        r, alpha = self.module_rank_alpha(module)
        return alpha / math.sqrt(r) if self.config.get("use_rslora") else alpha / r

    def sha256(self) -> str:
        """sha256 of the adapter weights file (hex)."""
        return sha256_file(self.weights_path)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-") or "adapter"


def read_adapter(path: str | Path) -> AdapterInfo:
    """Parse and validate an adapter folder.

    Raises:
        FileNotFoundError: the folder, ``adapter_config.json`` or ``adapter_model.safetensors`` is missing.
        ValueError: not a LoRA adapter, DoRA / ``modules_to_save`` (not expressible as a GGUF LoRA or
            a plain merge target), or ``gastown_adapter.json`` has an unknown ``kind``; the message names the file.
    """
    path = Path(path)
    cfg_path = path / ADAPTER_CONFIG
    if not path.is_dir():
        raise FileNotFoundError(f"adapter {path} is not a folder (expected a PEFT save: {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS})")
    if not cfg_path.is_file():
        raise FileNotFoundError(f"adapter {path}: missing {ADAPTER_CONFIG} (save it with peft_model.save_pretrained)")
    if not (path / ADAPTER_WEIGHTS).is_file():
        raise FileNotFoundError(f"adapter {path}: missing {ADAPTER_WEIGHTS} (safetensors is required; .bin is not read)")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cfg_path}: not valid JSON ({exc})") from exc
    if config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{cfg_path}: peft_type={config.get('peft_type')!r}; only LORA adapters can be exported")
    if config.get("use_dora"):
        raise ValueError(f"{cfg_path}: use_dora=true; DoRA magnitudes have no GGUF LoRA form, retrain with use_dora=False")
    if config.get("modules_to_save"):
        raise ValueError(f"{cfg_path}: modules_to_save={config['modules_to_save']} holds full weights a LoRA GGUF cannot carry; "
                         "train without modules_to_save")
    if "r" not in config:
        raise ValueError(f"{cfg_path}: no LoRA rank `r`")
    meta: dict = {}
    meta_path = path / GASTOWN_META
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{meta_path}: not valid JSON ({exc})") from exc
        if meta.get("kind") is not None and meta["kind"] not in ADAPTER_KINDS:
            raise ValueError(f"{meta_path}: kind={meta['kind']!r} is not one of {ADAPTER_KINDS}")
    label = meta.get("role") or meta.get("task")
    name = _safe(f"{meta['kind']}-{label}" if meta.get("kind") and label else path.name)
    return AdapterInfo(path=path, config=config, meta=meta, name=name)


def order_adapters(infos: list[AdapterInfo]) -> list[AdapterInfo]:
    """Role adapter first, then task / DPO adapters, keeping the given order otherwise.

    Raises:
        ValueError: two adapters share a name, or more than one is ``kind=role``.
    """
    names = [a.name for a in infos]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"adapters share the name(s) {sorted(dup)}: {[str(a.path) for a in infos]}")
    roles = [a for a in infos if a.kind == "role"]
    if len(roles) > 1:
        raise ValueError(f"more than one role adapter given: {[str(a.path) for a in roles]}; stack one role with task adapters")
    return roles + [a for a in infos if a.kind != "role"]
