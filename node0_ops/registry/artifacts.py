"""Artifact entries ``{kind: {path, sha256, bytes}}``: hashing, kind names, export results.

Kinds used by the registry (the exporter's outputs, see ``node0_ops/export``):

=====================  ==============================================================
``hf``                 merged safetensors folder (Hugging Face layout)
``gguf_f16`` ...       GGUF files, one per quantization (``gguf_q8_0``, ``gguf_q4_k_m``)
``lora_gguf:<name>``   LoRA adapter converted to GGUF, per adapter name
``peft:<name>``        PEFT adapter folder, per adapter name
``modelfile``          Ollama Modelfile;  ``model_card``: README/model card markdown
=====================  ==============================================================

A folder's ``sha256`` is the sha256 of its sorted manifest lines ``"<relpath>\\t<file sha256>\\n"``,
so it changes when any file's name or content changes. ``bytes`` is the total size.

Usage::

    from node0_ops.registry.artifacts import normalize_artifacts, artifacts_from_export
    arts = normalize_artifacts({"gguf_q4_k_m": "out/m-q4_k_m.gguf", "hf": "out/merged"})
    arts["hf"]["sha256"], arts["hf"]["bytes"]
"""

import dataclasses
import hashlib
import os
import re
from pathlib import Path
from typing import Any

GGUF_PREFERENCE = ("gguf_q4_k_m", "gguf_q5_k_m", "gguf_q6_k", "gguf_q8_0", "gguf_f16", "gguf_f32")
_ALIASES = {"merged": "hf", "safetensors": "hf", "merged_dir": "hf", "hf_dir": "hf", "model_dir": "hf",
            "card": "model_card", "readme": "model_card", "model_card_path": "model_card",
            "modelfile_path": "modelfile"}
_QUANT = re.compile(r"^(?:gguf[_:\-]?)?(f16|f32|bf16|q8_0|q4_k_m|q5_k_m|q6_k|q4_0)(?:[_\-]?gguf)?(?:_path)?$", re.I)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_path(path: str | os.PathLike) -> tuple[str, int]:
    """``(sha256 hex, bytes)`` of a file or folder (folder: manifest hash, total bytes).

    Raises:
        FileNotFoundError: naming the path when it does not exist.
    """
    p = Path(path)
    if p.is_file():
        return sha256_file(p), p.stat().st_size
    if p.is_dir():
        manifest, total = hashlib.sha256(), 0
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            manifest.update(f"{f.relative_to(p).as_posix()}\t{sha256_file(f)}\n".encode())
            total += f.stat().st_size
        return manifest.hexdigest(), total
    raise FileNotFoundError(f"artifact {p} does not exist (register files the exporter actually wrote)")


def path_bytes(path: str | os.PathLike) -> int:
    """Bytes a file or folder holds on disk now (0 when missing)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return 0


def canonical_kind(kind: str) -> str:
    """Map exporter-style names (``q4_k_m``, ``gguf:q8_0``, ``merged``) to registry kinds."""
    k = kind.strip()
    if ":" in k and k.split(":", 1)[0] in ("lora_gguf", "peft"):
        return k
    low = k.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    m = _QUANT.match(low)
    if m:
        return f"gguf_{m.group(1).lower()}"
    return low


def normalize_artifacts(artifacts: dict[str, Any] | None, *, hash_missing: bool = True) -> dict[str, dict]:
    """``{kind: path | {path, sha256?, bytes?}}`` -> ``{kind: {path, sha256, bytes}}``.

    Paths become absolute strings; missing ``sha256``/``bytes`` are computed from disk.

    Raises:
        ValueError: an entry without a path, or an unknown value type (names the kind).
        FileNotFoundError: a path that does not exist while its hash must be computed.
    """
    out: dict[str, dict] = {}
    for kind, value in (artifacts or {}).items():
        if isinstance(value, (str, os.PathLike)):
            entry = {"path": value}
        elif isinstance(value, dict):
            entry = dict(value)
        else:
            raise ValueError(f"artifact {kind!r}: expected a path or a {{path, sha256, bytes}} dict, got {type(value).__name__}")
        if not entry.get("path"):
            raise ValueError(f"artifact {kind!r}: missing 'path'")
        entry["path"] = str(Path(entry["path"]).expanduser().resolve())
        if hash_missing and (not entry.get("sha256") or entry.get("bytes") is None):
            sha, size = hash_path(entry["path"])
            entry["sha256"] = entry.get("sha256") or sha
            if entry.get("bytes") is None:
                entry["bytes"] = size
        out[canonical_kind(kind)] = entry
    return out


def _as_mapping(obj: Any) -> dict:
    if isinstance(obj, dict):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(vars(obj))


def artifacts_from_export(result: Any) -> dict[str, dict]:
    """Artifacts from an exporter result (``ExportResult`` dataclass, or its dict), loosely.

    Walks the mapping: a value that is a path to an existing file/folder becomes an artifact
    named by its key; a ``{path, sha256, bytes}`` dict is taken as is; nested dicts prefix
    their keys (``gguf: {q4_k_m: p}`` -> ``gguf_q4_k_m``; ``lora_gguf: {task-x: p}`` ->
    ``lora_gguf:task-x``); a sibling ``sha256`` mapping ``{key: hex}`` fills in hashes.
    """
    data = _as_mapping(result)
    hashes = data.get("sha256") if isinstance(data.get("sha256"), dict) else {}
    found: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, (str, os.PathLike)):
            p = Path(value)
            if p.exists() and (p.is_dir() or p.is_file()):
                found[prefix] = {"path": str(p), **({"sha256": hashes[prefix]} if prefix in hashes else {})}
        elif isinstance(value, dict):
            if "path" in value and isinstance(value.get("path"), (str, os.PathLike)):
                found[prefix] = value
                return
            for k, v in value.items():
                if prefix in ("lora_gguf", "lora_ggufs", "loras"):
                    walk(f"lora_gguf:{k}", v)
                elif prefix in ("peft", "adapters"):
                    walk(f"peft:{k}", v)
                else:
                    walk(f"{prefix}_{k}" if prefix else str(k), v)

    for key, value in data.items():
        if key == "sha256":
            continue
        walk(str(key), value)
    return normalize_artifacts(found)


def preferred_gguf(artifacts: dict[str, dict]) -> str | None:
    """Path of the preferred GGUF (q4_k_m, then larger quants, then f16/f32), else None."""
    for kind in GGUF_PREFERENCE:
        if kind in artifacts:
            return artifacts[kind]["path"]
    others = sorted(k for k in artifacts if k.startswith("gguf_"))
    return artifacts[others[0]]["path"] if others else None


def export_artifacts(export: dict) -> dict[str, dict]:
    """Registry artifacts of an exporter result dict (``ExportResult.to_dict()``): merged HF folder,
    merged GGUFs, LoRA GGUFs, the q4_k_m Modelfile and the model card (see :func:`artifacts_from_export`)."""
    return artifacts_from_export({"hf": export["merged_dir"], "gguf": export["ggufs"],
                                  "lora_gguf": export.get("lora_ggufs", {}),
                                  "modelfile": (export.get("modelfiles") or {}).get("q4_k_m") or "",
                                  "model_card": export.get("model_card") or ""})
