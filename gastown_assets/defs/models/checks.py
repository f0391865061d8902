"""Model checks: the registry entry must meet the eval thresholds (blocking: no deploy below them)."""

import dagster as dg

from gastown_assets.defs.corpus.partitions import role_partitions
from gastown_assets.defs.job_beads import role_job
from gastown_assets.defs.handles import ModelHandle
from gastown_assets.defs.models.assets import registry_entry
from node0_ops.evals import store as evals_store
from resources import LineageResource
from resources.evaluator import EvaluatorResource


def _run_role(context: dg.AssetCheckExecutionContext) -> str:
    """The role partition of the run the check executes in (runs over registry_entry are per role)."""
    role = context.run.tags.get("dagster/partition")
    if role not in role_partitions.get_partition_keys():
        raise dg.Failure(description=f"registry_entry_eval_threshold runs per role: launch it with a role partition "
                                     f"({', '.join(role_partitions.get_partition_keys())}), got {role!r}",
                         metadata={"partition": str(role)})
    return role


def _finish_job(context: dg.AssetCheckExecutionContext, lineage: LineageResource, rep: dict, ok: bool,
                reasons: list[str]) -> str:
    """Close the training job's bead with the registry ref (gate passed) or leave it open and blocked with
    the gate's reasons; returns what was done. The job is the one of the role_adapter materialization
    whose adapter this registry entry registered."""
    export = evals_store.export_row(lineage.db(), rep["export_dir"])
    adapter = export["adapter_dir"] if export else None
    job = role_job(context, lineage, rep["role"], adapter) if adapter is not None else None
    if job is None:
        return "no training job bead for this adapter"
    job_id = job.job_id
    if job.status in ("closed", "blocked"):
        return f"job {job_id} already {job.status}"
    job.phase("eval", report=rep["report_id"], overall=float(rep["overall"]), base_overall=float(rep["base_overall"]))
    if ok:
        job.close(f"registered {rep['model_label']} (eval gate passed)")
        return f"job {job_id} closed"
    job.fail("eval gate: " + "; ".join(r for r in reasons if "not gated" not in r)[:400])
    return f"job {job_id} blocked"


@dg.asset_check(asset=registry_entry, blocking=True)
def registry_entry_eval_threshold(context: dg.AssetCheckExecutionContext, lineage: LineageResource,
                                  evaluator: EvaluatorResource, registry_entry: ModelHandle) -> dg.AssetCheckResult:
    """The role partition's registered model's own eval report meets that role's thresholds and does not regress vs the base."""
    from node0_ops.evals.report import EvalReport

    role = _run_role(context)
    report_id = registry_entry.eval_report_id
    rep = evals_store.eval_report_row(lineage.db(), report_id)
    if rep is None:
        raise dg.Failure(description=f"eval report {report_id} of registry_entry[{role}] is not in eval_reports",
                         metadata={"role": role, "report_id": report_id})
    if rep["role"] != role:
        raise dg.Failure(description=f"registry_entry[{role}] points at report {report_id} of role {rep['role']}",
                         metadata={"role": role, "report_id": report_id})
    cand = EvalReport.from_json(rep["report"])
    base = EvalReport.from_json(rep["base_report"])
    ok, reasons = evaluator.thresholds().passes(cand, role, base=base)
    try:
        job = _finish_job(context, lineage, rep, ok, reasons)
    except Exception as exc:  # noqa: BLE001 - bead bookkeeping never decides the gate
        job = f"training job bead not updated: {type(exc).__name__}: {exc}"
        context.log.warning(job)
    return dg.AssetCheckResult(passed=ok, metadata={"training_job": job,
        "model": rep["model_label"], "role": role, "report_id": report_id, "overall": float(rep["overall"]),
        "base_overall": float(rep["base_overall"]), "reasons": dg.MetadataValue.json(reasons),
        "by_category": dg.MetadataValue.json({c: s.rate for c, s in cand.by_category.items()})})
