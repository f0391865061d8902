"""Eval-regression rollback as a run: the ``eval_regression`` sensor requests it, the registry rolls back.

Each rolled-back scope becomes a materialization of ``role_deployment[<role>]`` (what was
restored, what was rolled back, why), so the UI's registry view and run history show it.
"""

from typing import Optional

import dagster as dg

from node0_ops.drift.decisions import Decision, record_decisions
from node0_ops.drift.regression import SENSOR, execute_rollback
from resources import LineageResource, TownResource


class RollbackConfig(dg.Config):
    """What the sensor decided to roll back (``sensors.eval_regression.rollback_request``)."""

    role: str
    model: str
    scopes: list[str]
    reasons: list[str]
    eval_event_id: Optional[int] = None


@dg.op(name="rolled_back_deployment")
def rolled_back_deployment(context: dg.OpExecutionContext, config: RollbackConfig, lineage: LineageResource,
                           town: TownResource) -> dict:
    """The regressed model's deploys, rolled back in every scope it was deployed to."""
    db = lineage.db()
    result = execute_rollback(db, config.role, config.model, config.scopes, config.reasons, town.root_path())
    key = f"eval-{config.eval_event_id}-run" if config.eval_event_id is not None else None
    record_decisions(db, [Decision(SENSOR, "fired" if result["action"] == "rolled_back" else "flagged", [config.role],
                                   None, [], [context.run_id],
                                   {"rollback": result, "reasons": config.reasons, "run_id": context.run_id}, key=key)])
    for done in result.get("done", []):
        context.log_event(dg.AssetMaterialization(
            asset_key="role_deployment", partition=config.role,
            description=f"eval-regression rollback of {config.model} in {done['scope']}",
            metadata={"action": "rollback", "model": done.get("restored") or "-", "previous_model": config.model,
                      "scope": done["scope"], "deploy_id": done.get("deploy_id") or "-", "who": "eval_regression sensor",
                      "reason": "; ".join(config.reasons), "source": "eval_regression_rollback"}))
    if result["action"] != "rolled_back":
        raise dg.Failure(description=f"rollback of {config.model} ({config.role}) did not happen: "
                                     f"{result.get('why') or result.get('errors')}",
                         metadata={"model": config.model, "role": config.role,
                                   "result": dg.MetadataValue.json(result)})
    return result


@dg.job(name="eval_regression_rollback",
        description="Roll a role back from a model whose new eval report regressed (requested by the eval_regression sensor).")
def eval_regression_rollback():
    rolled_back_deployment()
