"""Eval regression: warn (and optionally roll back) when a role's new eval report scores below its bar.

The sensor only decides; a rollback is a run of the ``eval_regression_rollback`` job
(``gastown_assets/defs/models/rollback.py``), so it shows in the UI's run history."""

import json

import dagster as dg

from node0_ops.drift.decisions import record_decisions, record_tick
from node0_ops.drift.regression import SENSOR, EvalEvent, assess_and_act
from resources import LineageResource, TownResource
from sensors.common import default_status, load_settings

EVAL_REPORT = dg.AssetKey("eval_report")
BATCH = 100
ROLLBACK_JOB = "eval_regression_rollback"
ROLLBACK_OP = "rolled_back_deployment"


def rollback_request(decision) -> dg.RunRequest:
    """The run of the rollback job for a decision whose rollback is ``requested``."""
    event, plan = decision.detail["event"], decision.detail["rollback"]
    config = {"role": event["role"], "model": plan["model"], "scopes": plan["scopes"],
              "reasons": decision.detail["reasons"], "eval_event_id": event.get("event_id")}
    return dg.RunRequest(run_key=f"rollback-{decision.key or decision.decision_id}",
                         run_config={"ops": {ROLLBACK_OP: {"config": config}}},
                         tags={"gtft/role": event["role"], "gtft/rollback_of": plan["model"]})


def _value(md: dict, key: str):
    v = md.get(key)
    return getattr(v, "value", v)


def _event(record) -> EvalEvent | None:
    mat = record.asset_materialization
    if mat is None:
        return None
    md = mat.metadata or {}
    score = _value(md, "overall_score")
    if not isinstance(score, (int, float)):
        return None
    threshold = _value(md, "threshold")
    model = _value(md, "model")
    role = mat.partition or _value(md, "role")
    return EvalEvent(role=str(role), score=float(score),
                     threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
                     model=str(model) if model else None, event_id=record.storage_id, run_id=record.run_id)


@dg.sensor(name=SENSOR, minimum_interval_seconds=60, default_status=default_status(), job_name=ROLLBACK_JOB,
           description="Flag eval_report materializations below threshold or below the previous active model; "
                       "with rollback_on_regression, request a run of the rollback job.")
def eval_regression_sensor(context: dg.SensorEvaluationContext, town: TownResource,
                           lineage: LineageResource) -> dg.SensorResult:
    """Read new ``eval_report`` materializations after the cursor (storage id); one decision each,
    and one rollback run request per regressed deployed model when rollback is on."""
    settings = load_settings(lineage.state()).eval_regression
    after = json.loads(context.cursor).get("storage_id") if context.cursor else None
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=EVAL_REPORT, after_storage_id=after), limit=BATCH, ascending=True)
    db = lineage.db()
    if not result.records:
        record_tick(db, SENSOR, "no new eval report")
        return dg.SensorResult(skip_reason=dg.SkipReason("no new eval report"), cursor=context.cursor)
    decisions = []
    for rec in result.records:
        ev = _event(rec)
        if ev is None:
            context.log.warning(f"eval_report event {rec.storage_id} has no numeric overall_score: ignored")
            continue
        d = assess_and_act(db, ev, settings, town.root_path(), defer=True)
        decisions.append(d)
        if d.decision != "skipped":
            context.log.warning(f"eval regression for {ev.role} ({ev.model}): {'; '.join(d.detail['reasons'])}; "
                                f"rollback: {d.detail['rollback']['action']}")
    record_decisions(db, decisions)
    runs = [rollback_request(d) for d in decisions if d.detail.get("rollback", {}).get("action") == "requested"]
    n_bad = sum(d.decision != "skipped" for d in decisions)
    record_tick(db, SENSOR, f"{len(decisions)} eval report(s), {n_bad} regression(s)")
    cursor = json.dumps({"storage_id": result.records[-1].storage_id})
    if runs:
        return dg.SensorResult(run_requests=runs, cursor=cursor)
    return dg.SensorResult(skip_reason=dg.SkipReason(f"{len(decisions)} eval report(s) checked, {n_bad} regression(s)"),
                           cursor=cursor)
