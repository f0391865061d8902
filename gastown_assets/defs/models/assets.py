"""Model assets per role: exported model -> eval report (base vs candidate) -> registry entry -> deployment."""

import datetime as _dt
import json

import dagster as dg

from gastown_assets.defs.corpus.partitions import role_partitions
from gastown_assets.defs.job_beads import role_job
from gastown_assets.defs.handles import AdapterHandle, EvalReportHandle, ExportHandle, ModelHandle
from node0_ops.corpus import store
from node0_ops.evals import store as evals_store
from node0_ops.lineage.db import dumps
from resources import LineageResource, TownResource
from resources.evaluator import EvaluatorResource
from resources.exporter import ExporterResource

GROUP = "models"


def _base_gguf(adapter_dir: str, log) -> str:
    """GGUF of the base model the candidate's adapter was trained from."""
    from node0_ops.models.base import DEFAULT_BASE, base_gguf
    from node0_ops.train.adapters import read_metadata

    base = read_metadata(adapter_dir).get("base")
    path, exact = base_gguf(base)
    if not exact:
        log.warning(f"base {base} is an HF folder without a GGUF: comparing with the default base {DEFAULT_BASE}")
    return str(path)


@dg.asset(group_name=GROUP, partitions_def=role_partitions, kinds={"gguf", "safetensors"})
def exported_model(context: dg.AssetExecutionContext, lineage: LineageResource, exporter: ExporterResource,
                   role_adapter: AdapterHandle) -> dg.MaterializeResult:
    """Base + role adapter merged to safetensors and GGUF (f16, q8_0, q4_k_m), LoRA GGUFs, Modelfile and model card."""
    role = context.partition_key
    db = lineage.db()
    adapter = role_adapter.adapter_dir
    from node0_ops.train.adapters import read_metadata

    meta = read_metadata(adapter)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    out = lineage.artifacts("exports") / role / stamp
    res = exporter.export([adapter], out, name=f"node0-{role}", base=meta.get("base"),
                          lineage={"role": role, "corpus_version": meta.get("corpus_version")})
    evals_store.save_export(db, str(res.out_dir), role=role, adapter_dir=adapter,
                            corpus_version=meta.get("corpus_version"), result=res.to_dict())
    sizes = {a.path: a.size_bytes for a in res.artifacts}
    job = _note_export(context, lineage, role, adapter, res)
    return dg.MaterializeResult(metadata={
        "role": role, "export_dir": dg.MetadataValue.path(str(res.out_dir)), "training_job": job,
        "ggufs": dg.MetadataValue.json({k: str(v) for k, v in res.ggufs.items()}),
        "lora_ggufs": dg.MetadataValue.json({k: str(v) for k, v in res.lora_ggufs.items()}),
        "sizes_bytes": dg.MetadataValue.json(sizes), "timings_s": dg.MetadataValue.json(res.timings),
        "model_card": dg.MetadataValue.path(str(res.model_card)) if res.model_card else "",
    }, value=ExportHandle(str(res.out_dir)))


def _note_export(context, lineage: LineageResource, role: str, adapter: str, res) -> str:
    """``phase: export`` note on the training job bead of the exported adapter; what was done."""
    try:
        job = role_job(context, lineage, role, adapter)
        if job is None:
            return "no training job bead for this adapter"
        if job.status in ("closed", "blocked"):
            return f"job {job.job_id} already {job.status}"
        job.phase("export", export_dir=str(res.out_dir), ggufs=",".join(sorted(res.ggufs)))
        return f"job {job.job_id} noted"
    except Exception as exc:  # noqa: BLE001 - bead bookkeeping never fails the export
        context.log.warning(f"training job bead not updated: {type(exc).__name__}: {exc}")
        return f"training job bead not updated: {type(exc).__name__}"


@dg.asset(group_name=GROUP, partitions_def=role_partitions, kinds={"llamacpp"})
def eval_report(context: dg.AssetExecutionContext, lineage: LineageResource, evaluator: EvaluatorResource,
                exported_model: ExportHandle) -> dg.MaterializeResult:
    """Eval suite scores of the exported candidate vs the base model, per category and role (with/without constrained decoding)."""
    from node0_ops.evals.quality import summarize
    from node0_ops.evals.report import compare

    role = context.partition_key
    db = lineage.db()
    export_dir = exported_model.export_dir
    export = evals_store.export_row(db, export_dir)
    if export is None:
        raise dg.Failure(description=f"exported_model[{role}] recorded {export_dir}, which is not in the exports table",
                         metadata={"export_dir": export_dir})
    result = export["result"]
    gguf = result["ggufs"].get("q4_k_m") or next(iter(result["ggufs"].values()))
    version = export["corpus_version"]  # the test split of the corpus the candidate was trained on
    tasks = evaluator.tasks(store.load_examples(db, version, role=role, split="test") if version else [], role=role)
    base_gguf = _base_gguf(export["adapter_dir"], context.log)
    (base_off, base_on), (cand_off, cand_on) = evaluator.compare(
        (base_gguf, []), (gguf, []), tasks, labels=("base", f"node0-{role}"), cache_dir=lineage.artifacts("eval"),
        log=context.log)
    ok, reasons = evaluator.thresholds().passes(cand_off, role, base=base_off)
    label = _prospective_ref(lineage, role)
    report_id = f"{role}-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
    evals_store.save_eval_report(db, {
        "report_id": report_id, "role": role, "model_label": f"node0-{role}", "gguf_path": gguf,
        "export_dir": export_dir, "suite": evaluator.suite, "corpus_version": version,
        "overall": cand_off.overall.rate, "base_overall": base_off.overall.rate,
        "constrained_overall": cand_on.overall.rate if cand_on.cases else None, "passed": ok,
        "reasons": dumps(reasons), "report": cand_off.to_json(), "base_report": base_off.to_json(),
        "constrained_report": cand_on.to_json(), "base_constrained_report": base_on.to_json(),
        "kind": "role", "baseline_label": "base"})
    cats = {c: {"base": base_off.by_category.get(c).rate if c in base_off.by_category else None, "candidate": s.rate}
            for c, s in cand_off.by_category.items()}
    return dg.MaterializeResult(metadata={
        "role": role, "report_id": report_id, "model": label, "n_cases": len(cand_off.cases),
        "overall_score": float(cand_off.overall.rate), "base_overall_score": float(base_off.overall.rate),
        "constrained_score": float(cand_on.overall.rate) if cand_on.cases else 0.0,
        "base_constrained_score": float(base_on.overall.rate) if base_on.cases else 0.0,
        "threshold": float(evaluator.thresholds().overall), "passes_thresholds": ok,
        "gate_reasons": dg.MetadataValue.json(reasons), "by_category": dg.MetadataValue.json(cats),
        "base_vs_candidate": dg.MetadataValue.md(compare(base_off, cand_off)),
        "llama_settings": dg.MetadataValue.json(cand_off.meta.get("llama_settings") or {}),
        "quality": dg.MetadataValue.json({"base": summarize(base_off), "candidate": summarize(cand_off)}),
        "suite": evaluator.suite,
    }, value=EvalReportHandle(report_id))


def _prospective_ref(lineage: LineageResource, role: str) -> str:
    """``NAME@VERSION`` the registry will give this candidate (the next version of the role)."""
    from node0_ops.registry import store as reg

    nxt = max((m["version"] for m in reg.list_models(reg_db(lineage), role=role)), default=0) + 1
    return f"{reg.model_name(role, nxt)}@{nxt}"


def _versions_md(models: list[dict]) -> str:
    lines = ["| model | status | eval | corpus | rank | created |", "|---|---|---|---|---|---|"]
    for m in models:
        score = f"{m['eval_score']:.2f}" if isinstance(m.get("eval_score"), (int, float)) else "-"
        lines.append(f"| {m['name']}@{m['version']} | {m['status']} | {score} | {m.get('corpus_version') or '-'} | "
                     f"{m.get('lora_rank') or '-'} | {str(m.get('created_at'))[:19]} |")
    return "\n".join(lines)


@dg.asset(group_name=GROUP, partitions_def=role_partitions, kinds={"duckdb"})
def registry_entry(context: dg.AssetExecutionContext, lineage: LineageResource,
                   eval_report: EvalReportHandle) -> dg.MaterializeResult:
    """Versioned registry entry (candidate) of the role model with artifacts, checksums, eval scores and lineage."""
    from node0_ops.registry import store as reg
    from node0_ops.registry.artifacts import export_artifacts

    role = context.partition_key
    db = lineage.db()
    report_id = eval_report.report_id
    rep = evals_store.eval_report_row(db, report_id)
    if rep is None or rep["role"] != role:
        raise dg.Failure(description=f"eval_report[{role}] recorded report {report_id}, which is not a {role} report "
                                     "in eval_reports", metadata={"report_id": report_id})
    row = evals_store.export_row(db, rep["export_dir"])
    if row is None:
        raise dg.Failure(description=f"eval report {report_id} names export {rep['export_dir']}, which is not in the "
                                     "exports table", metadata={"report_id": report_id})
    export, adapter = row["result"], row["adapter_dir"]
    artifacts = export_artifacts(export)
    ref = reg.register_model(reg_db(lineage), role, None, [{"path": adapter, "kind": "role"}], artifacts,
                             rep["corpus_version"], eval_report=json.loads(rep["report"]),
                             notes=f"eval report {rep['report_id']}")
    evals_store.label_report(db, rep["report_id"], ref)
    models = reg.list_models(reg_db(lineage), role=role)
    return dg.MaterializeResult(metadata={
        "model": ref, "role": role, "eval_score": float(rep["overall"]), "base_eval_score": float(rep["base_overall"]),
        "eval_report_id": rep["report_id"], "corpus_version": rep["corpus_version"] or "",
        "versions": dg.MetadataValue.md(_versions_md(models)),
        "lineage": dg.MetadataValue.json(reg.lineage(reg_db(lineage), ref)),
    }, value=ModelHandle(ref, rep["report_id"]))


def reg_db(lineage: LineageResource):
    """Lineage DB with the registry tables ensured."""
    from node0_ops.registry.schema import registry_db

    return registry_db(lineage.state())


@dg.asset(group_name=GROUP, partitions_def=role_partitions, kinds={"json"})
def role_deployment(context: dg.AssetExecutionContext, lineage: LineageResource, town: TownResource,
                    evaluator: EvaluatorResource, registry_entry: ModelHandle) -> dg.MaterializeResult:
    """The role's node0 agent entry in the town settings, pointing at the model registry_entry registered (gated, progressive rollout)."""
    from node0_ops.registry.deploy import DeployRefused, deploy

    role = context.partition_key
    db = reg_db(lineage)
    ref = registry_entry.model
    try:
        res = deploy(db, ref, town_root=town.root_path(), town=True, role=role,
                     thresholds=evaluator.thresholds_yaml or None, state=lineage.state())
    except DeployRefused as exc:
        raise dg.Failure(description=f"deploy of {ref} refused: {exc}", metadata={"model": ref, "role": role}) from exc
    info = res.to_dict() if hasattr(res, "to_dict") else dict(getattr(res, "__dict__", {}))
    return dg.MaterializeResult(metadata={"model": ref, "role": role,
                                          "settings": dg.MetadataValue.path(str(info.get("settings_path", ""))),
                                          "deploy": dg.MetadataValue.json(json.loads(json.dumps(info, default=str)))})
