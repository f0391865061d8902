"""Merge a role adapter (plus optional task / DPO adapters) into the base and save an HF folder.

The adapters are loaded side by side into one ``PeftModel`` and merged together with
``merge_and_unload(adapter_names=[...])``, so the result is ``W + sum_i s_i B_i A_i`` (stacked
LoRA deltas, as when all adapters are active at once; Hu et al. 2021). The folder holds
``model.safetensors`` (fp32), ``config.json``, the tokenizer, ``chat_template.jinja`` and our
``gastown_export.json`` (base, adapters with sha256, tokenizer pre-tokenizer name, metadata).

Usage::

    merged = merge_adapters(resolve_base("smollm2-135m"), [Path("adapters/polecat")], Path("out/merged"))

Chat template: the explicit argument, else the role adapter's ``gastown_adapter.json``
``chat_template``, else any adapter's, else the base tokenizer's.
"""

import contextlib
import json
import os
import shutil
from pathlib import Path

from node0_ops.export.adapters import AdapterInfo, order_adapters, read_adapter
from node0_ops.export.gguf_writer import resolve_tokenizer_pre

EXPORT_META = "gastown_export.json"


def pick_chat_template(adapters: list[AdapterInfo], base_template: str | None, explicit: str | None = None) -> str | None:
    """The chat template the exported model should carry (see module docstring for the order)."""
    if explicit:
        return explicit
    for info in sorted(adapters, key=lambda a: a.kind != "role"):
        if info.meta.get("chat_template"):
            return info.meta["chat_template"]
    return base_template


def merge_adapters(base_dir: Path, adapters: list[Path | AdapterInfo], out_dir: Path, *,
                   metadata: dict | None = None, chat_template: str | None = None,
                   tokenizer_pre: str | None = None) -> Path:
    """Merge ``adapters`` into the fp32 base at ``base_dir`` and save to ``out_dir``.

    Args:
        base_dir: HF folder of the base (``node0_ops.models.base.resolve_base``).
        adapters: PEFT LoRA folders; zero adapters saves a plain copy of the base.
        out_dir: target folder (replaced; written to ``<out_dir>.tmp`` first).
        metadata: extra keys stored under ``metadata`` in ``gastown_export.json``.
        chat_template / tokenizer_pre: overrides (see module docstring / ``resolve_tokenizer_pre``).

    Returns:
        ``out_dir``.

    Raises:
        FileNotFoundError / ValueError: from :func:`.adapters.read_adapter` and
            ``resolve_tokenizer_pre``; PEFT raises when an adapter does not fit the base.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir, out_dir = Path(base_dir), Path(out_dir)
    infos = order_adapters([a if isinstance(a, AdapterInfo) else read_adapter(a) for a in adapters])
    pre = resolve_tokenizer_pre(base_dir, tokenizer_pre)

    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    if infos:
        peft_model = PeftModel.from_pretrained(model, str(infos[0].path), adapter_name=infos[0].name)
        for info in infos[1:]:
            peft_model.load_adapter(str(info.path), adapter_name=info.name)
        with _torch_threads(1):  # hundreds of tiny B@A products: thread hand-offs cost more than they give
            model = peft_model.merge_and_unload(adapter_names=[i.name for i in infos])
    template = pick_chat_template(infos, getattr(tokenizer, "chat_template", None), chat_template)
    if template:
        tokenizer.chat_template = template

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    meta = {
        "base_dir": str(base_dir),
        "tokenizer_pre": pre,
        "adapters": [{"name": i.name, "path": str(i.path), "kind": i.kind, "role": i.meta.get("role"),
                      "task": i.meta.get("task"), "r": i.rank, "lora_alpha": i.lora_alpha,
                      "target_modules": i.config.get("target_modules"), "sha256": i.sha256()} for i in infos],
        "metadata": metadata or {},
    }
    (tmp / EXPORT_META).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
