"""Eval regressions: a new ``eval_report`` for a role below its threshold or its predecessor.

An eval event carries ``overall_score``, ``threshold`` and ``model`` (``name@version``, e.g.
``polecat-v3@3``) from the ``eval_report`` asset's metadata. It *regressed* when

- ``score < threshold``, or
- ``score < reference - tolerance``, the reference being the role's active model's
  ``eval_score`` (registry ``models`` table) or, when the evaluated model *is* the active
  one (a re-evaluation), the newest earlier version's score (the previous active model).

On a regression the sensor records a ``flagged`` decision; with ``rollback_on_regression``
it also calls :func:`node0_ops.registry.deploy.rollback` for every scope (town or rig) the
regressed model is deployed to, and records ``fired`` when one succeeded. A candidate that
is not deployed is only flagged (the registry's deploy gate keeps it out). When the rollback
function is missing (the registry package not installed), the decision says what it would
have rolled back.

Usage::

    ev = EvalEvent(role="polecat", score=0.55, threshold=0.7, model="polecat-v3@3")
    decision = assess_and_act(db, ev, EvalRegressionConfig(rollback_on_regression=True), town_root)
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


def _rollback(db: LineageDB, event: EvalEvent, verdict: Verdict, town_root: str | os.PathLike | None,
              enabled: bool) -> dict:
    ev = verdict.evaluated
    if ev is None:
        return {"action": "none", "why": f"model {event.model!r} is not a registered NAME@VERSION: nothing to roll back"}
    if ev["status"] != "active" or not ev["deployed_rigs"]:
        return {"action": "none", "why": f"{ev['model']} is {ev['status']} and not deployed: the deploy gate keeps it out"}
    scopes = ev["deployed_rigs"]
    plan = {"model": ev["model"], "scopes": scopes}
    if not enabled:
        return {"action": "would_roll_back", **plan, "why": "rollback_on_regression is off"}
    try:
        from node0_ops.registry.deploy import rollback
    except ImportError as exc:
        return {"action": "would_roll_back", **plan, "why": f"node0_ops.registry.deploy.rollback unavailable: {exc}"}
    if town_root is None:
        return {"action": "would_roll_back", **plan, "why": "no town root to edit settings in"}
    done, errors = [], []
    for scope in scopes:
        rig = None if scope == TOWN_SCOPE else scope
        try:
            res = rollback(db, event.role, town_root=town_root, rig=rig,
                           reason=f"eval regression: {'; '.join(verdict.reasons)}")
            done.append({"scope": scope, "restored": getattr(res, "model", None),
                         "deploy_id": getattr(res, "deploy_id", None)})
        except Exception as exc:  # record and keep going: one scope failing must not hide the others
            errors.append({"scope": scope, "error": f"{type(exc).__name__}: {exc}"})
    return {"action": "rolled_back" if done else "rollback_failed", **plan, "done": done, "errors": errors}


def assess_and_act(db: LineageDB, event: EvalEvent, config: EvalRegressionConfig,
                   town_root: str | os.PathLike | None) -> Decision:
    """Assess one eval event, roll back when configured, and return the decision to record."""
    verdict = assess(db, event, config.tolerance)
    detail = {"event": asdict(event), "reasons": verdict.reasons, "reference": verdict.reference,
              "evaluated": verdict.evaluated}
    key = f"eval-{event.event_id}" if event.event_id is not None else None
    if not verdict.regressed:
        return Decision(SENSOR, "skipped", [event.role], event.score, [], [], detail, key=key)
    detail["rollback"] = _rollback(db, event, verdict, town_root, config.rollback_on_regression)
    fired = detail["rollback"]["action"] == "rolled_back"
    return Decision(SENSOR, "fired" if fired else "flagged", [event.role], event.score, [], [], detail, key=key)
