"""Stacked adapters in the graph: exported, evaluated against the role model they stack on, registered.

- ``task_adapter[task] -> task_adapter_report[task]``: base + role + task merged (safetensors, GGUFs)
  and the base f16 GGUF + one LoRA GGUF per adapter; base + role vs base + role + task (the LoRA
  GGUFs stacked at load time, as a node0 agent serves them) on that task's cases; the task adapter's
  registry row gets the scores, its LoRA GGUF and the export.
- ``dpo_adapter[role] -> dpo_model[role]``: the same export and comparison on the role's gate cases,
  then a candidate version of the role model whose stack is role + DPO (``gt-model show``), gated by
  ``gt-model deploy`` like any version.
"""

import datetime as _dt

import dagster as dg

from gastown_assets.defs.corpus.partitions import role_partitions, task_partitions
from gastown_assets.defs.handles import AdapterHandle, EvalReportHandle, ModelHandle
from node0_ops.corpus import store
from node0_ops.evals import store as evals_store
from node0_ops.lineage.db import dumps
from resources import LineageResource
from resources.evaluator import EvaluatorResource
from resources.exporter import ExporterResource

GROUP = "models"


def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")


def _export_stack(lineage: LineageResource, exporter: ExporterResource, handle: AdapterHandle, kind: str, name: str):
    """Merge ``[role adapter, handle]`` and write the LoRA GGUFs; ``(ExportResult, role_lora, top_lora)``.

    Raises:
        dg.Failure: the handle names no role adapter, or the export wrote no LoRA GGUF per adapter.
    """
    from node0_ops.train.adapters import read_metadata

    if not handle.stacked_on:
        raise dg.Failure(description=f"{kind} adapter {handle.adapter_dir} names no role adapter it is stacked on: "
                                     f"rematerialize the {kind} adapter", metadata={"adapter_dir": handle.adapter_dir})
    meta = read_metadata(handle.adapter_dir)
    out = lineage.artifacts("exports") / name / _stamp()
    res = exporter.export([handle.stacked_on, handle.adapter_dir], out, name=name, base=meta.get("base"),
                          lineage={"role": handle.role, "corpus_version": handle.corpus_version})
    loras = list(res.lora_ggufs.values())
    if len(loras) != 2 or res.base_gguf is None:
        raise dg.Failure(description=f"export {res.out_dir} wrote {len(loras)} LoRA GGUFs for 2 adapters",
                         metadata={"export_dir": str(res.out_dir)})
    evals_store.save_export(lineage.db(), str(res.out_dir), role=handle.role, adapter_dir=handle.adapter_dir,
                            corpus_version=handle.corpus_version, result=res.to_dict())
    return res, str(loras[0]), str(loras[1])


def _compare(context, lineage: LineageResource, evaluator: EvaluatorResource, res, role_lora: str, top_lora: str,
             tasks, labels: tuple[str, str]):
    """Base + role vs base + role + top adapter, both as LoRA GGUFs on the export's base f16 GGUF."""
    base = str(res.base_gguf)
    return evaluator.compare((base, [role_lora]), (base, [role_lora, top_lora]), tasks, labels=labels,
                             cache_dir=lineage.artifacts("eval"), log=context.log)


def _save_report(lineage: LineageResource, evaluator: EvaluatorResource, handle: AdapterHandle, res, reports,
                 *, kind: str, task: str | None, label: str, baseline: str, passed: bool, reasons: list[str]) -> str:
    (base_off, base_on), (cand_off, cand_on) = reports
    report_id = f"{kind}-{task or handle.role}-{_stamp()}"
    evals_store.save_eval_report(lineage.db(), {
        "report_id": report_id, "role": handle.role, "model_label": label, "gguf_path": str(res.base_gguf),
        "export_dir": str(res.out_dir), "suite": evaluator.suite, "corpus_version": handle.corpus_version,
        "overall": cand_off.overall.rate, "base_overall": base_off.overall.rate,
        "constrained_overall": cand_on.overall.rate if cand_on.cases else None, "passed": passed,
        "reasons": dumps(reasons), "report": cand_off.to_json(), "base_report": base_off.to_json(),
        "constrained_report": cand_on.to_json(), "base_constrained_report": base_on.to_json(),
        "kind": kind, "task": task, "baseline_label": baseline})
    return report_id


def _record_adapter(lineage: LineageResource, handle: AdapterHandle, kind: str, res, top_lora: str, report_id: str,
                    reports) -> dict:
    """The adapter's registry row (registered when trained; same weights -> same ref) with its eval and LoRA GGUF."""
    from node0_ops.registry import store as reg
    from node0_ops.registry.schema import registry_db

    db = registry_db(lineage.state())
    ref = reg.register_adapter(db, handle.adapter_dir, kind=kind, run_id=handle.run_id,
                               compatible_models=reg.models_with_adapter(db, handle.stacked_on))
    (base_off, _), (cand_off, _) = reports
    return reg.record_adapter_eval(db, ref, report_id=report_id, score=cand_off.overall.rate,
                                   baseline_score=base_off.overall.rate, gguf_path=top_lora, export_dir=str(res.out_dir))


def _metadata(handle: AdapterHandle, res, reports, report_id: str, row: dict) -> dict:
    from node0_ops.evals.report import compare

    (base_off, base_on), (cand_off, cand_on) = reports
    return {
        "role": handle.role, "report_id": report_id, "adapter": row["ref"], "n_cases": len(cand_off.cases),
        "score": float(cand_off.overall.rate), "role_only_score": float(base_off.overall.rate),
        "gain": float(cand_off.overall.rate - base_off.overall.rate),
        "constrained_score": float(cand_on.overall.rate) if cand_on.cases else 0.0,
        "role_only_constrained_score": float(base_on.overall.rate) if base_on.cases else 0.0,
        "compatible_models": dg.MetadataValue.json(row["compatible_models"]),
        "export_dir": dg.MetadataValue.path(str(res.out_dir)),
        "ggufs": dg.MetadataValue.json({k: str(v) for k, v in res.ggufs.items()}),
        "lora_ggufs": dg.MetadataValue.json({k: str(v) for k, v in res.lora_ggufs.items()}),
        "role_only_vs_stacked": dg.MetadataValue.md(compare(base_off, cand_off)),
    }


@dg.asset(group_name=GROUP, partitions_def=task_partitions, kinds={"gguf", "llamacpp"})
def task_adapter_report(context: dg.AssetExecutionContext, lineage: LineageResource, exporter: ExporterResource,
                        evaluator: EvaluatorResource, task_adapter: AdapterHandle) -> dg.MaterializeResult:
    """Task adapter exported (stacked merge, LoRA GGUF) and scored: base + role vs base + role + task on that task's cases."""
    task = context.partition_key
    tests = store.load_examples(lineage.db(), task_adapter.corpus_version, task=task, split="test")
    tasks = evaluator.task_cases(tests, task)
    if not tasks:
        raise dg.Failure(description=f"no eval cases for task {task}: the {evaluator.suite} suite has no {task} category "
                                     f"and corpus {task_adapter.corpus_version} has no checkable {task} test example",
                         metadata={"task": task, "corpus_version": task_adapter.corpus_version})
    name = f"node0-{task_adapter.role}-{task}"
    res, role_lora, top_lora = _export_stack(lineage, exporter, task_adapter, "task", name)
    reports = _compare(context, lineage, evaluator, res, role_lora, top_lora, tasks,
                       (f"node0-{task_adapter.role}+lora", name))
    (base_off, _), (cand_off, _) = reports
    passed = cand_off.overall.rate >= base_off.overall.rate
    reasons = [] if passed else [f"{task}: stacked {cand_off.overall.rate:.2f} < role only {base_off.overall.rate:.2f}"]
    report_id = _save_report(lineage, evaluator, task_adapter, res, reports, kind="task", task=task, label=name,
                             baseline=f"node0-{task_adapter.role} (role adapter only)", passed=passed, reasons=reasons)
    row = _record_adapter(lineage, task_adapter, "task", res, top_lora, report_id, reports)
    return dg.MaterializeResult(metadata={"task": task, "helps": passed, **_metadata(task_adapter, res, reports,
                                                                                      report_id, row)},
                                value=EvalReportHandle(report_id))


@dg.asset(group_name=GROUP, partitions_def=role_partitions, kinds={"gguf", "duckdb"})
def dpo_model(context: dg.AssetExecutionContext, lineage: LineageResource, exporter: ExporterResource,
              evaluator: EvaluatorResource, dpo_adapter: AdapterHandle) -> dg.MaterializeResult:
    """Role model with its DPO stage: exported, scored against the SFT-only role model, registered as a candidate version."""
    from node0_ops.registry import store as reg
    from node0_ops.registry.artifacts import export_artifacts
    from node0_ops.registry.schema import registry_db

    role = context.partition_key
    tests = store.load_examples(lineage.db(), dpo_adapter.corpus_version, role=role, split="test")
    tasks = evaluator.tasks(tests, role=role)
    res, role_lora, top_lora = _export_stack(lineage, exporter, dpo_adapter, "dpo", f"node0-{role}-dpo")
    reports = _compare(context, lineage, evaluator, res, role_lora, top_lora, tasks,
                       (f"node0-{role}+lora", f"node0-{role}-dpo"))
    (base_off, _), (cand_off, _) = reports
    passed, reasons = evaluator.thresholds().passes(cand_off, role, base=base_off)
    report_id = _save_report(lineage, evaluator, dpo_adapter, res, reports, kind="dpo", task=None,
                             label=f"node0-{role}-dpo", baseline=f"node0-{role} (SFT role adapter only)",
                             passed=passed, reasons=reasons)
    row = _record_adapter(lineage, dpo_adapter, "dpo", res, top_lora, report_id, reports)
    export = res.to_dict()
    artifacts = export_artifacts(export)
    db = registry_db(lineage.state())
    ref = reg.register_model(db, role, None, [{"path": dpo_adapter.stacked_on, "kind": "role"}, row["ref"]], artifacts,
                             dpo_adapter.corpus_version, eval_report=cand_off,
                             notes=f"SFT role adapter + DPO stage {row['ref']}; eval report {report_id} "
                                   f"(vs the SFT-only role model)")
    evals_store.label_report(lineage.db(), report_id, ref)
    model = reg.get_model(db, ref)
    return dg.MaterializeResult(metadata={
        "model": ref, "adapters": dg.MetadataValue.json(model["adapters"]), "passes_thresholds": passed,
        "gate_reasons": dg.MetadataValue.json(reasons), **_metadata(dpo_adapter, res, reports, report_id, row)},
        value=ModelHandle(ref, report_id))
