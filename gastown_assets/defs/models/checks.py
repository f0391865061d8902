"""Model checks: the registry entry must meet the eval thresholds (blocking: no deploy below them)."""

import json

import dagster as dg

from gastown_assets.defs.models.assets import EVAL_DDL, registry_entry
from resources import LineageResource
from resources.evaluator import EvaluatorResource


@dg.asset_check(asset=registry_entry, blocking=True)
def registry_entry_eval_threshold(lineage: LineageResource, evaluator: EvaluatorResource) -> dg.AssetCheckResult:
    """The newest registered model's eval report meets the role's thresholds and does not regress vs the base."""
    from node0_ops.evals.report import EvalReport

    db = lineage.db()
    db.ensure(EVAL_DDL)
    rows = db.query("select * from eval_reports where model_label like '%@%' order by created_at desc limit 1")
    if not rows:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no eval report linked to a registry entry"})
    rep = rows[0]
    cand = EvalReport.from_json(rep["report"])
    base = EvalReport.from_json(rep["base_report"])
    ok, reasons = evaluator.thresholds().passes(cand, rep["role"], base=base)
    return dg.AssetCheckResult(passed=ok, metadata={
        "model": rep["model_label"], "role": rep["role"], "overall": float(rep["overall"]),
        "base_overall": float(rep["base_overall"]), "reasons": dg.MetadataValue.json(reasons),
        "by_category": dg.MetadataValue.json({c: s.rate for c, s in cand.by_category.items()})})
