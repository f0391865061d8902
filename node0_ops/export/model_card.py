"""README.md model card with lineage for an exported model.

Lineage is a plain dict (filled by the Dagster export asset / registry). Known keys:
``base`` (spec), ``base_model`` (upstream name), ``license``, ``run_id``, ``corpus_version``,
``corpus_counts`` (``{split or source: count}``), ``hyperparameters`` (dict), ``adapters``
(list of dicts: name, kind, role, task, r, lora_alpha, sha256, hyperparameters), ``eval``
(``{metric: score}``, nested dicts allowed); other keys are listed under "Other lineage".

Usage::

    text = render_model_card("polecat", lineage, eval_scores={"pass_rate": 0.81}, artifacts=[...])

Format: Hugging Face model card (YAML front matter + Markdown,
https://huggingface.co/docs/hub/model-cards).
"""

import json
from pathlib import Path

KNOWN_KEYS = {"base", "base_model", "license", "run_id", "corpus_version", "corpus_counts", "hyperparameters",
              "adapters", "eval", "tags", "description", "created_at", "system_prompt"}


def _cell(value) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def flatten(scores: dict, prefix: str = "") -> list[tuple[str, object]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]`` (sorted keys)."""
    rows = []
    for key in sorted(scores):
        value = scores[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, name + ".")
        else:
            rows.append((name, value))
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_model_card(name: str, lineage: dict, *, eval_scores: dict | None = None,
                      artifacts: list[dict] | None = None, usage: str | None = None) -> str:
    """Markdown model card text.

    Args:
        name: model name (title).
        lineage: see module docstring.
        eval_scores: ``{metric: score}``; overrides ``lineage["eval"]``. ``None`` and no lineage eval
            renders "not evaluated" (the card never invents scores).
        artifacts: dicts with ``path`` (relative), ``kind``, ``size_bytes``, ``sha256`` (and optional ``quant``).
        usage: a Markdown usage section body (default: Ollama and llama.cpp commands).
    """
    import yaml

    scores = eval_scores if eval_scores is not None else lineage.get("eval")
    tags = ["gastown", "node0", "gguf", "lora"] + [str(t) for t in lineage.get("tags", [])]
    for adapter in lineage.get("adapters", []):
        for key in ("role", "task"):
            if adapter.get(key):
                tags.append(f"{key}:{adapter[key]}")
    front = {"license": lineage.get("license", "other"), "base_model": lineage.get("base_model") or lineage.get("base"),
             "tags": sorted(set(tags)), "library_name": "gguf"}
    lines = ["---", yaml.safe_dump(front, sort_keys=True).strip(), "---", "", f"# {name}", ""]
    lines += [lineage.get("description") or
              f"A Gas Town role model fine-tuned from `{lineage.get('base', 'unknown base')}` with LoRA "
              "by gastown-finetune, exported as safetensors and GGUF.", ""]

    lines += ["## Lineage", ""]
    rows = [(key, lineage[key]) for key in ("base", "base_model", "license", "run_id", "corpus_version", "created_at")
            if lineage.get(key) is not None]
    lines += _table(("field", "value"), rows) if rows else ["No lineage recorded.", ""]

    counts = lineage.get("corpus_counts") or {}
    lines += ["## Corpus", ""]
    if counts:
        lines += _table(("part", "examples"), [(k, v) for k, v in flatten(counts)])
        total = sum(v for _, v in flatten(counts) if isinstance(v, (int, float)))
        lines += [f"Total: {total} (corpus version `{lineage.get('corpus_version', 'unknown')}`).", ""]
    else:
        lines += [f"Corpus version `{lineage.get('corpus_version', 'unknown')}`; counts not recorded.", ""]

    adapters = lineage.get("adapters") or []
    lines += ["## Adapters", ""]
    if adapters:
        lines += _table(("name", "kind", "role", "task", "r", "alpha", "sha256"),
                        [(a.get("name"), a.get("kind"), a.get("role") or "", a.get("task") or "", a.get("r"),
                          a.get("lora_alpha"), (a.get("sha256") or "")[:16]) for a in adapters])
    else:
        lines += ["None: the base model is exported as is.", ""]

    hparams = dict(lineage.get("hyperparameters") or {})
    for adapter in adapters:
        for key, value in (adapter.get("hyperparameters") or {}).items():
            hparams[f"{adapter.get('name')}.{key}"] = value
    lines += ["## Hyperparameters", ""]
    lines += _table(("name", "value"), flatten(hparams)) if hparams else ["Not recorded.", ""]

    lines += ["## Evaluation", ""]
    lines += _table(("metric", "score"), flatten(scores)) if scores else ["Not evaluated yet.", ""]

    if lineage.get("system_prompt"):
        lines += ["## System prompt (role card)", "", "```text", lineage["system_prompt"], "```", ""]

    if artifacts:
        lines += ["## Files", ""]
        lines += _table(("file", "kind", "size", "sha256"),
                        [(a["path"], a.get("kind", ""), _size(int(a.get("size_bytes", 0))), a.get("sha256", ""))
                         for a in artifacts])

    lines += ["## Usage", "", usage or (
        "```bash\nollama create NAME -f gguf/q4_k_m/Modelfile && ollama run NAME\n"
        "python -c \"from llama_cpp import Llama; Llama('gguf/q4_k_m/MODEL.gguf')\"\n```"), ""]

    other = {k: v for k, v in lineage.items() if k not in KNOWN_KEYS}
    if other:
        lines += ["## Other lineage", ""] + _table(("key", "value"), sorted(other.items()))
    return "\n".join(lines).rstrip() + "\n"


def write_model_card(path: Path, name: str, lineage: dict, **kwargs) -> Path:
    """Write :func:`render_model_card` output to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(name, lineage, **kwargs), encoding="utf-8")
    return path
