"""Eval regressions: a new ``eval_report`` for a role below its threshold or its predecessor.

An eval event carries ``overall_score``, ``threshold`` and ``model`` (``name@version``, e.g.
``polecat-v3@3``) from the ``eval_report`` asset's metadata. It *regressed* when

- ``score < threshold``, or
- ``score < reference - tolerance``, the reference being the role's active model's
  ``eval_score`` (registry ``models`` table) or, when the evaluated model *is* the active
  one (a re-evaluation), the newest earlier version's score (the previous active model).

On a regression the sensor records a ``flagged`` decision; with ``rollback_on_regression``
the regressed model's deploys are rolled back (:func:`node0_ops.registry.deploy.rollback` for
every scope, town or rig, it is deployed to) and ``fired`` is recorded when one succeeded. The
Dagster sensor does not roll back inside its tick: it records the plan (``requested``) and asks
for a run of the ``eval_regression_rollback`` job, which calls :func:`execute_rollback`, so the
rollback shows in run history. A candidate that is not deployed is only flagged (the registry's
deploy gate keeps it out).

Usage::

    ev = EvalEvent(role="polecat", score=0.55, threshold=0.7, model="polecat-v3@3")
    decision = assess_and_act(db, ev, EvalRegressionConfig(rollback_on_regression=True), town_root)
    decision = assess_and_act(db, ev, cfg, town_root, defer=True)   # plan only: detail["rollback"]["action"] == "requested"
"""

import os
import re
from dataclasses import asdict, dataclass, field

from node0_ops.drift.baseline import table_exists
from node0_ops.drift.decisions import Decision
from node0_ops.drift.sensor_config import EvalRegressionConfig
from node0_ops.lineage.db import LineageDB

SENSOR = "eval_regression"
TOWN_SCOPE = "(town)"
MODEL_REF = re.compile(r"^(?P<role>[a-z][a-z0-9_]*?)(?:-v(?P<v1>\d+))?(?:@(?P<v2>\d+))?$")


@dataclass
class EvalEvent:
    """One ``eval_report`` materialization.

    Attributes:
        role: the partition.  score: ``overall_score`` (pass rate, 0..1).
        threshold: ``threshold`` (0..1).  model: ``model`` metadata (``name@version`` or a label).
        event_id: Dagster storage id (idempotence).  run_id: Dagster run id.
    """

    role: str
    score: float
    threshold: float | None
    model: str | None = None
    event_id: int | None = None
    run_id: str | None = None


@dataclass
class Verdict:
    """``regressed`` and why; ``reference`` = ``{model, score}`` compared with."""

    regressed: bool
    reasons: list[str] = field(default_factory=list)
    reference: dict | None = None
    evaluated: dict | None = None


def parse_model(ref: str | None) -> tuple[str, int] | None:
    """``polecat-v3@3`` / ``polecat@3`` / ``polecat-v3`` -> (role, version); None when no version is named."""
    m = MODEL_REF.match((ref or "").strip())
    if not m or not (m.group("v1") or m.group("v2")):
        return None
    if m.group("v1") and m.group("v2") and m.group("v1") != m.group("v2"):
        return None
    return m.group("role"), int(m.group("v1") or m.group("v2"))


def _models(db: LineageDB, role: str) -> list[dict]:
    if not table_exists(db, "models"):
        return []
    rows = db.query("""select name, role, version, status, eval_score, deployed_rigs from models
                       where role = ? order by version desc""", [role])
    for r in rows:
        r["deployed_rigs"] = list(r.get("deployed_rigs") or [])
        r["ref"] = f"{r['name']}@{r['version']}"
    return rows


def assess(db: LineageDB, event: EvalEvent, tolerance: float = 0.0) -> Verdict:
    """Regression verdict for one eval event (see the module rule)."""
    models = _models(db, event.role)
    ident = parse_model(event.model)
    evaluated = next((m for m in models if ident and (m["role"], m["version"]) == ident), None)
    active = next((m for m in models if m["status"] == "active"), None)
    if evaluated is not None and active is not None and evaluated["name"] == active["name"]:
        reference = next((m for m in models if m["version"] < active["version"] and m["eval_score"] is not None), None)
    else:
        reference = active if active is not None and active["eval_score"] is not None else None
    reasons = []
    if event.threshold is not None and event.score < event.threshold:
        reasons.append(f"score {event.score:.3f} < threshold {event.threshold:.3f}")
    if reference is not None and event.score < float(reference["eval_score"]) - tolerance:
        reasons.append(f"score {event.score:.3f} < {reference['ref']}'s {float(reference['eval_score']):.3f}"
                       + (f" - tolerance {tolerance:.3f}" if tolerance else ""))
    ref = {"model": reference["ref"], "score": float(reference["eval_score"]), "status": reference["status"]} \
        if reference else None
    ev = {"model": evaluated["ref"], "status": evaluated["status"], "deployed_rigs": evaluated["deployed_rigs"]} \
        if evaluated else None
    return Verdict(bool(reasons), reasons, ref, ev)


def _plan(event: EvalEvent, verdict: Verdict, enabled: bool) -> dict:
    """What a rollback would do: ``{"action": "none", "why"}`` or ``{"model", "scopes"}`` (+ ``why`` when off)."""
    ev = verdict.evaluated
    if ev is None:
        return {"action": "none", "why": f"model {event.model!r} is not a registered NAME@VERSION: nothing to roll back"}
    if ev["status"] != "active" or not ev["deployed_rigs"]:
        return {"action": "none", "why": f"{ev['model']} is {ev['status']} and not deployed: the deploy gate keeps it out"}
    plan = {"model": ev["model"], "scopes": list(ev["deployed_rigs"])}
    if not enabled:
        return {"action": "would_roll_back", **plan, "why": "rollback_on_regression is off"}
    return plan


def execute_rollback(db: LineageDB, role: str, model: str, scopes: list[str], reasons: list[str],
                     town_root: str | os.PathLike | None) -> dict:
    """Roll ``role`` back in every scope (``(town)`` or a rig name) where ``model`` is deployed.

    Returns:
        ``{"action": "rolled_back" | "rollback_failed" | "would_roll_back", "model", "scopes",
        "done": [{"scope", "restored", "deploy_id"}], "errors": [{"scope", "error"}]}``: one
        scope failing does not stop the others; a scope where ``model`` is no longer deployed
        (an earlier run rolled it back) is an error, never a rollback of whatever is there now.
    """
    plan = {"model": model, "scopes": list(scopes)}
    try:
        from node0_ops.registry.deploy import rollback
    except ImportError as exc:
        return {"action": "would_roll_back", **plan, "why": f"node0_ops.registry.deploy.rollback unavailable: {exc}"}
    if town_root is None:
        return {"action": "would_roll_back", **plan, "why": "no town root to edit settings in"}
    ident = parse_model(model)
    current = next((m for m in _models(db, role) if ident and (m["role"], m["version"]) == ident), None)
    live = set(current["deployed_rigs"]) if current else set()
    done, errors = [], []
    for scope in scopes:
        rig = None if scope == TOWN_SCOPE else scope
        if scope not in live:  # rolled back already (a re-run) or redeployed since: never undo another model's deploy
            errors.append({"scope": scope, "error": f"{model} is no longer deployed in {scope}: nothing to roll back"})
            continue
        try:
            res = rollback(db, role, town_root=town_root, rig=rig, reason=f"eval regression: {'; '.join(reasons)}")
            done.append({"scope": scope, "restored": getattr(res, "model", None),
                         "deploy_id": getattr(res, "deploy_id", None)})
        except Exception as exc:  # record and keep going: one scope failing must not hide the others
            errors.append({"scope": scope, "error": f"{type(exc).__name__}: {exc}"})
    return {"action": "rolled_back" if done else "rollback_failed", **plan, "done": done, "errors": errors}


def assess_and_act(db: LineageDB, event: EvalEvent, config: EvalRegressionConfig,
                   town_root: str | os.PathLike | None, defer: bool = False) -> Decision:
    """Assess one eval event and return the decision to record.

    With ``config.rollback_on_regression`` a regressed, deployed model is rolled back here, or,
    with ``defer``, only planned: ``detail["rollback"] = {"action": "requested", "model", "scopes"}``
    for a caller that runs :func:`execute_rollback` elsewhere (the Dagster rollback job)."""
    verdict = assess(db, event, config.tolerance)
    detail = {"event": asdict(event), "reasons": verdict.reasons, "reference": verdict.reference,
              "evaluated": verdict.evaluated}
    key = f"eval-{event.event_id}" if event.event_id is not None else None
    if not verdict.regressed:
        return Decision(SENSOR, "skipped", [event.role], event.score, [], [], detail, key=key)
    plan = _plan(event, verdict, config.rollback_on_regression)
    if "action" in plan:
        detail["rollback"] = plan
    elif defer:
        detail["rollback"] = {"action": "requested", **plan}
    else:
        detail["rollback"] = execute_rollback(db, event.role, plan["model"], plan["scopes"], verdict.reasons, town_root)
    fired = detail["rollback"]["action"] == "rolled_back"
    return Decision(SENSOR, "fired" if fired else "flagged", [event.role], event.score, [], [], detail, key=key)
