"""Exporter resource: merge adapters, write safetensors + GGUF (f16, q8_0, q4_k_m) + LoRA GGUFs."""

from pathlib import Path

import dagster as dg


class ExporterResource(dg.ConfigurableResource):
    """GGUF quant types to write for the merged model (llama.cpp names) and the base spec."""

    quants: list[str] = ["f16", "q8_0", "q4_k_m"]
    base: str = "smollm2-135m"

    def export(self, adapters: list[str], out_dir: Path, *, name: str, lineage: dict, eval_scores: dict | None = None,
               base: str | None = None):
        """Run :func:`node0_ops.export.export.export_model` (``base`` = the adapters' base, default
        ``self.base``); ``dg.Failure`` with context on error."""
        from node0_ops.export.export import export_model

        try:
            return export_model(base or self.base, [Path(a) for a in adapters], out_dir, name=name, quants=tuple(self.quants),
                                lineage=lineage, eval_scores=eval_scores, overwrite=True)
        except Exception as exc:
            raise dg.Failure(description=f"export of {name} failed: {exc}",
                             metadata={"adapters": adapters, "out_dir": str(out_dir)}) from exc
