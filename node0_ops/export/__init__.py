"""Export: merge LoRA adapters, write GGUF (f16 / q8_0 / llama.cpp K-quants), GGUF LoRAs,
Ollama Modelfiles and a model card with lineage. Plain Python (no dagster).

Usage::

    from node0_ops.export import export_model
    result = export_model("smollm2-135m", [role_dir, task_dir], out_dir, name="polecat-v1",
                          lineage={"corpus_version": "c42"}, eval_scores={"pass_rate": 0.8})

Modules: :mod:`.adapters` (read adapter folders), :mod:`.merge` (PEFT merge -> HF folder),
:mod:`.gguf_writer` (HF -> GGUF, llama.cpp quantize), :mod:`.lora_gguf` (PEFT LoRA -> GGUF LoRA),
:mod:`.modelfile` (Ollama), :mod:`.model_card` (README.md), :mod:`.export` (the whole export).
"""

from node0_ops.export.export import Artifact, ExportResult, export_model, load_export
from node0_ops.export.export_config import QUANTS, ExportConfig

__all__ = ["Artifact", "ExportConfig", "ExportResult", "QUANTS", "export_model", "load_export"]
