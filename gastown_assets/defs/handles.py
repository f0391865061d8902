"""The typed handles assets hand each other (stored and loaded by :class:`resources.handles.HandleIOManager`).

Each names an artifact whose content lives in DuckDB or on disk; downstream assets and checks take
them as inputs named after the upstream asset, so Dagster's lineage and the data's lineage agree.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CollectionHandle:
    """A collection of the town's sources (``collections.collection_id``)."""

    collection_id: str


@dataclass(frozen=True)
class CorpusVersionHandle:
    """A content-addressed corpus version (``corpus_versions.corpus_version``)."""

    corpus_version: str


@dataclass(frozen=True)
class DpoPairsHandle:
    """The DPO preference pairs of one role in a corpus version (``dpo_pairs`` rows of its members)."""

    corpus_version: str
    role: str


@dataclass(frozen=True)
class AdapterHandle:
    """A trained LoRA adapter folder (PEFT files + ``gastown_adapter.json``) and its training run;
    a task or DPO adapter also names the role and the role adapter folder it is stacked on."""

    adapter_dir: str
    run_id: str
    corpus_version: str
    role: str = ""
    stacked_on: str = ""


@dataclass(frozen=True)
class ExportHandle:
    """An export folder (merged safetensors, GGUFs, Modelfile; ``exports.export_dir``)."""

    export_dir: str


@dataclass(frozen=True)
class EvalReportHandle:
    """An eval of a candidate against its base (``eval_reports.report_id``)."""

    report_id: str


@dataclass(frozen=True)
class ModelHandle:
    """A registered model version (``NAME@VERSION``) and the eval report that judged it."""

    model: str
    eval_report_id: str
