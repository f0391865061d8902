"""Write a PEFT LoRA adapter as a llama.cpp GGUF LoRA (our own converter on gguf-py).

Usage::

    write_lora_gguf(Path("adapters/polecat"), base_dir, Path("out/role-polecat.lora.gguf"))
    # llama.cpp:  Llama(model_path="base-f16.gguf", lora_path="out/role-polecat.lora.gguf")

Format (llama.cpp ``src/llama-adapter.cpp``, loader of ``convert_lora_to_gguf.py`` output):
``general.type = "adapter"``, ``general.architecture`` equal to the base model's,
``adapter.type = "lora"``, ``adapter.lora.alpha`` (float32). For each adapted base tensor
``<gguf name>`` (e.g. ``blk.0.attn_q.weight``) two tensors: ``<name>.lora_a`` with numpy shape
``(r, in)`` (PEFT ``lora_A.weight`` as is; GGML ne ``[in, r]``) and ``<name>.lora_b`` with numpy
shape ``(out, r)`` (PEFT ``lora_B.weight``; ne ``[r, out]``). llama.cpp adds
``scale * B @ (A @ x)`` with ``scale = alpha / r`` (r = ``lora_b`` ne[0]) times the user scale.

PEFT's own factor (``alpha / r``, ``alpha / sqrt(r)`` for rsLoRA, per-module ``rank_pattern`` /
``alpha_pattern``) is matched by folding any difference into ``lora_b``. For llama, ``lora_b``
rows of Q/K get the same RoPE row permutation as the base weights (:func:`.gguf_writer.permute_qk`),
since ``B @ A`` adds to those permuted rows.
"""

import os
import re
from pathlib import Path

import numpy as np

from node0_ops.export.adapters import AdapterInfo, read_adapter
from node0_ops.export.gguf_writer import (LORA_GGUF_DTYPES, add_general, arch_spec, encode_tensor, gguf_tensor_name,
                                          load_config, permute_qk, qk_heads, tensor_name_map)

_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def base_weight_shapes(base_dir: Path) -> dict[str, tuple[int, ...]]:
    """Shapes of every tensor in the base folder's safetensors files, read from headers only."""
    from safetensors import safe_open

    shapes = {}
    for path in sorted(Path(base_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as fh:
            for key in fh.keys():
                shapes[key] = tuple(fh.get_slice(key).get_shape())
    return shapes


def lora_pairs(info: AdapterInfo) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{module: (A (r, in), B (out, r))}`` float32 from ``adapter_model.safetensors``.

    Raises:
        ValueError: embedding LoRA (``lora_embedding_A``), an unknown key, or a module with only one of A/B;
            the message names the file and key.
    """
    from safetensors import safe_open

    pairs: dict[str, dict[str, np.ndarray]] = {}
    with safe_open(str(info.weights_path), framework="pt") as fh:
        for key in fh.keys():
            if "lora_embedding_" in key:
                raise ValueError(f"{info.weights_path}: {key} is an embedding LoRA; export supports linear layers only "
                                 "(drop embed_tokens from target_modules)")
            match = _KEY.match(key)
            if not match:
                raise ValueError(f"{info.weights_path}: unexpected tensor {key!r} (not a lora_A/lora_B weight)")
            pairs.setdefault(match["module"], {})[match["ab"]] = fh.get_tensor(key).float().numpy()
    out = {}
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{info.weights_path}: module {module} has only lora_{''.join(ab)}")
        out[module] = (ab["A"], ab["B"])
    if not out:
        raise ValueError(f"{info.weights_path}: no LoRA tensors")
    return out


def write_lora_gguf(adapter: AdapterInfo | Path, base_dir: Path, out_path: Path, *, dtype: str = "f16",
                    name: str | None = None, metadata: dict | None = None) -> Path:
    """Convert one PEFT LoRA adapter into a GGUF LoRA for the HF base folder it was trained on.

    Args:
        adapter: the adapter folder or its :class:`AdapterInfo`.
        base_dir: HF folder of the base model (for architecture, head counts and shape checks).
        out_path: the ``.gguf`` to write (``.tmp`` then renamed).
        dtype: ``f32``, ``f16`` (default, as llama.cpp's converter) or ``q8_0`` (rows not divisible by 32 stay F16).
        name / metadata: ``general.name`` and :func:`.gguf_writer.add_general` metadata.

    Raises:
        ValueError: unsupported dtype/architecture, a LoRA on ``lm_head`` of a tied-embedding base
            (the base GGUF has no ``output.weight``), or A/B shapes that do not fit the base tensor.
    """
    import gguf

    if dtype not in LORA_GGUF_DTYPES:
        raise ValueError(f"dtype={dtype!r}: LoRA GGUF tensors can be {LORA_GGUF_DTYPES}")
    info = adapter if isinstance(adapter, AdapterInfo) else read_adapter(adapter)
    config = load_config(base_dir)
    spec = arch_spec(config)
    name_map = tensor_name_map(config)
    shapes = base_weight_shapes(base_dir)
    tied = bool(config.get("tie_word_embeddings", False))
    alpha = info.lora_alpha

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), spec.arch_name)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        add_general(writer, name or info.name, metadata)
        for module, (lora_a, lora_b) in sorted(lora_pairs(info).items(), key=lambda kv: _module_order(kv[0])):
            hf_weight = module + ".weight"
            if module.endswith("lm_head") and tied:
                raise ValueError(f"{info.weights_path}: LoRA on lm_head but the base ties embeddings; the GGUF base has "
                                 "no output.weight to adapt (drop lm_head from target_modules)")
            if hf_weight not in shapes:
                raise ValueError(f"{info.weights_path}: module {module} has no base tensor {hf_weight} in {base_dir}")
            out_dim, in_dim = shapes[hf_weight]
            r = lora_a.shape[0]
            if lora_a.shape != (r, in_dim) or lora_b.shape != (out_dim, r):
                raise ValueError(f"{info.weights_path}: {module} A{lora_a.shape} B{lora_b.shape} do not fit base "
                                 f"{hf_weight} {shapes[hf_weight]} (wrong base model?)")
            gguf_scale = alpha / r if alpha else 1.0
            fold = info.module_scale(module) / gguf_scale
            if not np.isclose(fold, 1.0, rtol=1e-6):
                lora_b = lora_b * np.float32(fold)
            if spec.permute_qk and (heads := qk_heads(config, hf_weight)):
                lora_b = permute_qk(lora_b, heads)
            target = gguf_tensor_name(name_map, hf_weight)
            for suffix, arr in ((".lora_a", lora_a), (".lora_b", lora_b)):
                data, raw = encode_tensor(arr, dtype)
                writer.add_tensor(target + suffix, data, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out_path)
    return out_path


def _module_order(module: str) -> tuple[int, str]:
    match = re.search(r"\.layers\.(\d+)\.", module)
    return (int(match[1]) if match else -1, module)
