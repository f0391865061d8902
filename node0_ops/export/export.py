"""Export a base model plus role/task adapters: merged safetensors, GGUFs, GGUF LoRAs, Modelfiles, card.

Layout of ``out_dir``::

    merged/                       HF folder (fp32 safetensors, tokenizer, chat template, gastown_export.json)
    gguf/<quant>/<name>-<quant>.gguf + Modelfile      one per quant (f16, q8_0, q4_k_m, ...)
    lora/<name>-base-f16.gguf + <adapter>.lora.gguf + Modelfile   (FROM base, one ADAPTER line each)
    README.md                     model card with lineage, eval scores and file checksums
    export.json                   the ExportResult manifest (paths, sha256, sizes, timings, lineage)

Usage::

    result = export_model("smollm2-135m", [Path("adapters/polecat"), Path("adapters/gt-done")],
                          Path("exports/polecat-v1"), name="polecat-v1",
                          lineage={"corpus_version": "c42", "run_id": "r7"}, eval_scores={"pass_rate": 0.8})
    result.ggufs["q4_k_m"], result.artifact("gguf/q4_k_m/polecat-v1-q4_k_m.gguf").sha256
"""

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from node0_ops.export.adapters import AdapterInfo, order_adapters, read_adapter, sha256_file
from node0_ops.export.export_config import ExportConfig
from node0_ops.export.gguf_writer import DIRECT_OUTTYPES, quantize_gguf, write_gguf
from node0_ops.export.lora_gguf import write_lora_gguf
from node0_ops.export.merge import merge_adapters
from node0_ops.export.model_card import write_model_card
from node0_ops.export.modelfile import write_modelfile
from node0_ops.export.scan import require_clean_export

MANIFEST = "export.json"
# Hugging Face ids of the upstream models behind the base presets (model card ``base_model``).
UPSTREAM = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "qwen2.5-coder-0.5b": "Qwen/Qwen2.5-Coder-0.5B-Instruct"}


@dataclass
class Artifact:
    """One exported file: ``path`` relative to the export folder, ``sha256`` hex, ``size_bytes``,
    ``seconds`` spent producing the step it belongs to, and its ``kind``
    (``merged``, ``gguf``, ``base_gguf``, ``lora_gguf``, ``modelfile``, ``model_card``)."""

    kind: str
    path: str
    sha256: str
    size_bytes: int
    seconds: float = 0.0
    quant: str | None = None
    adapter: str | None = None


@dataclass
class ExportResult:
    """What :func:`export_model` wrote. Paths are absolute; ``artifacts`` paths are relative to ``out_dir``.

    ``timings`` (seconds): ``imports`` (torch/transformers/peft, first call in a process), ``merge``
    (load base + adapters, merge, save), ``gguf_<quant>``, ``base_gguf``, ``lora_<adapter>``, ``card``, ``total``.
    """

    name: str
    out_dir: Path
    merged_dir: Path
    ggufs: dict[str, Path] = field(default_factory=dict)
    base_gguf: Path | None = None
    lora_ggufs: dict[str, Path] = field(default_factory=dict)
    modelfiles: dict[str, Path] = field(default_factory=dict)
    model_card: Path | None = None
    manifest: Path | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    lineage: dict = field(default_factory=dict)

    def artifact(self, rel_path: str) -> Artifact:
        """The artifact at ``rel_path`` (relative to ``out_dir``); ``KeyError`` when absent."""
        for art in self.artifacts:
            if art.path == rel_path:
                return art
        raise KeyError(f"no artifact {rel_path!r} in export {self.out_dir}")

    def to_dict(self) -> dict:
        """JSON-ready dict (paths as strings)."""
        def conv(value):
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, list):
                return [conv(v) for v in value]
            return value

        return {k: conv(v) for k, v in asdict(self).items()}


def _check_base(info: AdapterInfo, base_spec: str, base_dir: Path) -> None:
    from node0_ops.models.base import resolve_base

    recorded = info.meta.get("base")
    if not recorded or str(recorded) == str(base_spec):
        return
    try:
        same = Path(resolve_base(str(recorded))).resolve() == base_dir.resolve()
    except (FileNotFoundError, KeyError, ValueError):
        same = False
    if not same:
        raise ValueError(f"adapter {info.path} was trained on base {recorded!r} (gastown_adapter.json) but the export "
                         f"base is {base_spec!r} ({base_dir}); export with the adapter's base")


def _system_prompt(cfg: ExportConfig, lineage: dict, infos: list[AdapterInfo]) -> str | None:
    if cfg.system_prompt:
        return cfg.system_prompt
    if lineage.get("system_prompt"):
        return lineage["system_prompt"]
    role = next((i.meta.get("role") for i in infos if i.kind == "role" and i.meta.get("role")), None)
    if role is None:
        return None
    from node0_ops.corpus.examples_common import role_card

    try:
        return role_card(role)
    except ValueError:
        return None


def _full_lineage(lineage: dict, base_spec: str, infos: list[AdapterInfo], system: str | None) -> dict:
    from node0_ops.models.base import PRESETS

    full = dict(lineage)
    full.setdefault("base", str(base_spec))
    if base_spec in PRESETS:
        full.setdefault("base_model", UPSTREAM.get(base_spec, PRESETS[base_spec].description))
        full.setdefault("license", PRESETS[base_spec].license.split()[0].lower())
    for info in infos:
        if info.meta.get("corpus_version") and "corpus_version" not in full:
            full["corpus_version"] = info.meta["corpus_version"]
    if "adapters" not in full:
        full["adapters"] = [{"name": i.name, "kind": i.kind, "role": i.meta.get("role"), "task": i.meta.get("task"),
                             "r": i.rank, "lora_alpha": i.lora_alpha, "target_modules": i.config.get("target_modules"),
                             "sha256": i.sha256(), "corpus_version": i.meta.get("corpus_version"),
                             "hyperparameters": i.meta.get("hyperparameters") or {},
                             "train_metrics": i.meta.get("metrics") or {}} for i in infos]
    if system:
        full.setdefault("system_prompt", system)
    return full


def _gguf_metadata(name: str, lineage: dict) -> dict:
    compact = {k: lineage.get(k) for k in ("base", "run_id", "corpus_version", "corpus_counts") if lineage.get(k)}
    compact["adapters"] = [{k: a.get(k) for k in ("name", "kind", "role", "task", "sha256")}
                           for a in lineage.get("adapters", [])]
    tags = ["gastown"] + [f"{k}:{a[k]}" for a in lineage.get("adapters", []) for k in ("role", "task") if a.get(k)]
    return {"basename": name, "base_model": lineage.get("base_model") or lineage.get("base"),
            "license": lineage.get("license"), "tags": tags, "lineage": compact,
            "description": f"gastown-finetune export of {name}"}


def export_model(base_spec: str, adapters: list[Path], out_dir: Path, *, name: str,
                 quants: tuple[str, ...] = ("f16", "q8_0", "q4_k_m"), lineage: dict | None = None,
                 eval_scores: dict | None = None, **options) -> ExportResult:
    """Merge ``adapters`` into ``base_spec`` and write every export artifact into ``out_dir``.

    Args:
        base_spec: ``node0_ops.models.base.resolve_base`` spec (preset, .gguf or HF folder).
        adapters: PEFT LoRA folders (at most one ``kind=role``; the role goes first when stacking).
        out_dir: export folder (must be empty or absent unless ``overwrite=True``).
        name: model name (file names, ``general.name``, card title).
        quants: merged GGUF types (see :class:`ExportConfig`).
        lineage: lineage dict for the card and manifest (see :mod:`.model_card`); adapters, base
            and corpus version are filled in from the adapters when absent.
        eval_scores: ``{metric: score}`` from the eval suite (card "Evaluation").
        **options: other :class:`ExportConfig` fields (``lora_ggufs``, ``lora_dtype``, ``system_prompt``,
            ``tokenizer_pre``, ``threads``, ``overwrite``).

    Returns:
        :class:`ExportResult` (also written to ``out_dir/export.json``).

    Raises:
        ValueError: bad config, adapter/base mismatch, unsupported architecture or tokenizer.
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is false.
        ImportError: K-quants requested without llama-cpp-python.
        node0_ops.export.scan.ExportLeakError: the model card, a Modelfile, a GGUF metadata string or
            adapter/export metadata JSON holds a secret or personal data (no manifest is written).
    """
    from node0_ops.models.base import resolve_base

    cfg = ExportConfig(name=name, quants=tuple(quants), **options)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not cfg.overwrite:
            raise FileExistsError(f"export folder {out_dir} is not empty; pick a new folder or pass overwrite=True")
        for sub in ("merged", "gguf", "lora", "README.md", MANIFEST):
            target = out_dir / sub
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    base_dir = Path(resolve_base(base_spec))
    infos = order_adapters([read_adapter(p) for p in adapters])
    for info in infos:
        _check_base(info, base_spec, base_dir)
    system = _system_prompt(cfg, lineage or {}, infos)
    full_lineage = _full_lineage(lineage or {}, base_spec, infos, system)
    result = ExportResult(name=name, out_dir=out_dir, merged_dir=out_dir / "merged", lineage=full_lineage)

    def record(kind: str, path: Path, seconds: float, **extra) -> None:
        result.artifacts.append(Artifact(kind=kind, path=str(path.relative_to(out_dir)), sha256=sha256_file(path),
                                         size_bytes=path.stat().st_size, seconds=round(seconds, 3), **extra))

    t = time.perf_counter()
    import peft  # noqa: F401  (first imports cost 5-30 s on a busy box: keep them out of the merge timing)
    import transformers  # noqa: F401

    result.timings["imports"] = time.perf_counter() - t
    t = time.perf_counter()
    merge_adapters(base_dir, infos, result.merged_dir, metadata={"name": name, "lineage": full_lineage},
                   tokenizer_pre=cfg.tokenizer_pre)
    result.timings["merge"] = time.perf_counter() - t
    for path in sorted(p for p in result.merged_dir.rglob("*") if p.is_file()):
        record("merged", path, result.timings["merge"])
    chat_template = _read_chat_template(result.merged_dir)

    gguf_meta = _gguf_metadata(name, full_lineage)
    card_header = f"{name}: gastown-finetune export (base {base_spec})"
    f16_source: Path | None = None
    scratch: list[Path] = []
    for quant in cfg.quants:
        t = time.perf_counter()
        path = out_dir / "gguf" / quant / f"{name}-{quant}.gguf"
        if quant in DIRECT_OUTTYPES:
            write_gguf(result.merged_dir, path, quant, name=name, metadata=gguf_meta)
        else:
            if f16_source is None:
                f16_source = result.ggufs.get("f16")
            if f16_source is None:  # K-quants start from f16; keep it out of the artifacts when not asked for
                f16_source = write_gguf(result.merged_dir, out_dir / "gguf" / ".f16-scratch.gguf", "f16",
                                        name=name, metadata=gguf_meta)
                scratch.append(f16_source)
            quantize_gguf(f16_source, path, quant, threads=cfg.threads)
        result.timings[f"gguf_{quant}"] = time.perf_counter() - t
        result.ggufs[quant] = path
        if quant == "f16":
            f16_source = path
        record("gguf", path, result.timings[f"gguf_{quant}"], quant=quant)
        modelfile = write_modelfile(path.parent / "Modelfile", f"./{path.name}", chat_template=chat_template,
                                    system=system, header=card_header)
        result.modelfiles[quant] = modelfile
        record("modelfile", modelfile, 0.0, quant=quant)
    for path in scratch:
        path.unlink(missing_ok=True)

    if cfg.lora_ggufs and infos:
        lora_dir = out_dir / "lora"
        t = time.perf_counter()
        base_gguf = write_gguf(base_dir, lora_dir / f"{name}-base-f16.gguf", "f16", name=f"{name}-base",
                               metadata={**gguf_meta, "lineage": {"base": str(base_spec)}},
                               tokenizer_pre=cfg.tokenizer_pre or _merged_pre(result.merged_dir),
                               chat_template=chat_template)
        result.timings["base_gguf"] = time.perf_counter() - t
        result.base_gguf = base_gguf
        record("base_gguf", base_gguf, result.timings["base_gguf"], quant="f16")
        for info in infos:
            t = time.perf_counter()
            path = write_lora_gguf(info, base_dir, lora_dir / f"{info.name}.lora.gguf", dtype=cfg.lora_dtype,
                                   name=f"{name}-{info.name}", metadata={**gguf_meta, "lineage": {
                                       "base": str(base_spec), "adapter": info.name, "sha256": info.sha256(),
                                       "corpus_version": info.meta.get("corpus_version")}})
            result.timings[f"lora_{info.name}"] = time.perf_counter() - t
            result.lora_ggufs[info.name] = path
            record("lora_gguf", path, result.timings[f"lora_{info.name}"], adapter=info.name)
        modelfile = write_modelfile(lora_dir / "Modelfile", f"./{base_gguf.name}", chat_template=chat_template,
                                    system=system, adapters=[f"./{p.name}" for p in result.lora_ggufs.values()],
                                    header=card_header + "\nbase f16 GGUF + GGUF LoRA adapters, stacked in order")
        result.modelfiles["lora"] = modelfile
        record("modelfile", modelfile, 0.0)

    t = time.perf_counter()
    card_files = [asdict(a) for a in result.artifacts if a.kind != "merged"]
    result.model_card = write_model_card(out_dir / "README.md", name, full_lineage, eval_scores=eval_scores,
                                         artifacts=card_files)
    result.timings["card"] = time.perf_counter() - t
    record("model_card", result.model_card, result.timings["card"])
    t = time.perf_counter()
    require_clean_export(out_dir, adapters)  # blocking: a finding leaves no manifest, so nothing registers
    result.timings["scan"] = time.perf_counter() - t
    result.timings["total"] = time.perf_counter() - t_start
    result.timings = {k: round(v, 3) for k, v in result.timings.items()}
    result.manifest = out_dir / MANIFEST
    result.manifest.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))
    return result


def _read_chat_template(model_dir: Path) -> str | None:
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    cfg = model_dir / "tokenizer_config.json"
    return json.loads(cfg.read_text()).get("chat_template") if cfg.is_file() else None


def _merged_pre(model_dir: Path) -> str | None:
    meta = model_dir / "gastown_export.json"
    return json.loads(meta.read_text()).get("tokenizer_pre") if meta.is_file() else None


def load_export(out_dir: Path) -> dict:
    """The manifest dict of a finished export (``export.json``); ``FileNotFoundError`` when absent."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir}: no {MANIFEST} (export incomplete or not an export folder)")
    return json.loads(path.read_text())
