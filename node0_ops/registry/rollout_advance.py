"""Rollout promoted by evidence: stage status and ``advance`` gated on the open stage's models.

``rollout_status`` lists every staged role with its active model, eval score, gate verdict and
days active. ``advance`` opens the next stage only when every role of the current (highest open)
stage has an active model that passes its deployment thresholds (:func:`.deploy.gate`, the same
check ``gt-model deploy`` makes) with no regression against the model it replaced; ``force=True``
with a ``reason`` overrides (recorded). Each advance rewrites the rollout file (the one in use,
else ``<state>/rollout.yaml``) and appends a ``rollout_events`` row (who, from, to, forced,
reason, the blockers it overrode).

Usage::

    rows = rollout_status(db, load_rollout(town_root=town, state=state))
    ev = advance(db, plan, state=state)                         # RolloutRefused when not earned
    ev = advance(db, plan, state=state, force=True, reason="pilot week went fine")
"""

import getpass
import json
import uuid
from pathlib import Path
from typing import Any

from node0_ops.lineage.db import LineageDB
from node0_ops.registry.rollout_config import RolloutConfig
from node0_ops.registry.store import list_models, now_utc

class RolloutRefused(Exception):
    """``advance`` refused: ``blockers`` lists why (one line per role problem)."""

    def __init__(self, blockers: list[str]):
        self.blockers = blockers
        super().__init__("rollout advance refused:\n  - " + "\n  - ".join(blockers)
                         + "\n(override: gt-model rollout advance --force --reason '...')")


def _days_active(db: LineageDB, ref: str) -> float | None:
    ts = db.scalar("select min(ts) from deployments where model = ? and action = 'deploy'", [ref])
    if ts is None:
        return None
    return round((now_utc().replace(tzinfo=None) - ts.replace(tzinfo=None)).total_seconds() / 86400, 2)


def _previous_report(models: list[dict], active: dict) -> dict | None:
    """Eval report of the role's newest older version (the model the active one replaced)."""
    older = [m for m in models if m["version"] < active["version"] and m.get("eval_report")]
    return max(older, key=lambda m: m["version"])["eval_report"] if older else None


def role_status(db: LineageDB, role: str, thresholds: Any = None) -> dict:
    """``{role, model, eval_score, days_active, passes, reasons}`` of one role's active model."""
    from node0_ops.registry.deploy import gate

    models = list_models(db, role=role)
    active = next((m for m in models if m["status"] == "active"), None)
    if active is None:
        return {"role": role, "model": None, "eval_score": None, "days_active": None, "passes": False,
                "reasons": [f"role {role} has no active model"]}
    ok, reasons = gate(active, role, thresholds, base_report=_previous_report(models, active))
    return {"role": role, "model": active["ref"], "eval_score": active.get("eval_score"),
            "days_active": _days_active(db, active["ref"]), "passes": ok,
            "reasons": [r for r in reasons if "not gated" not in r] if ok else reasons}


def rollout_status(db: LineageDB, plan: RolloutConfig, thresholds: Any = None) -> list[dict]:
    """One row per staged role: ``stage``, ``state`` (open/closed/blocked) plus :func:`role_status`."""
    rows = []
    for i, group in enumerate(plan.stages, 1):
        for role in group:
            state = "blocked" if role in plan.blocked else "open" if i <= plan.stage else "closed"
            rows.append({"stage": i, "state": state, **role_status(db, role, thresholds)})
    return rows


def _write_plan(plan: RolloutConfig, stage: int, state: str | Path) -> Path:
    import yaml

    src = Path(plan.source) if plan.source and Path(plan.source).is_file() else Path(state) / "rollout.yaml"
    body = {"stage": stage, "stages": plan.stages, "blocked": plan.blocked}
    if src.suffix == ".json":
        src.write_text(json.dumps(body, indent=2) + "\n")
    else:
        src.write_text(yaml.safe_dump(body, sort_keys=False))
    return src


def advance(db: LineageDB, plan: RolloutConfig, *, state: str | Path, thresholds: Any = None, force: bool = False,
            reason: str | None = None, who: str | None = None) -> dict:
    """Open the next rollout stage when the current one has earned it.

    Args:
        db: the registry DB (:func:`node0_ops.registry.schema.registry_db`: models, deployments,
            rollout_events).

    Returns:
        the recorded event ``{event_id, from_stage, to_stage, forced, reason, who, blockers, rollout_file}``.

    Raises:
        RolloutRefused: a role of the current stage has no active model, fails its thresholds or
            regressed (``blockers`` says which), and ``force`` is not set.
        ValueError: already at the last stage, or ``force`` without a ``reason``.
    """
    if plan.stage >= len(plan.stages):
        raise ValueError(f"rollout is already at its last stage ({plan.stage} of {len(plan.stages)}, {plan.source})")
    if force and not (reason or "").strip():
        raise ValueError("rollout advance --force needs --reason '...' (it is recorded)")
    current = plan.stages[plan.stage - 1] if plan.stage else []
    blockers = []
    for role in current:
        if role in plan.blocked:
            continue
        st = role_status(db, role, thresholds)
        if not st["passes"]:
            blockers += [f"{role} ({st['model'] or 'no active model'}): {r}" for r in st["reasons"]]
    if blockers and not force:
        raise RolloutRefused(blockers)
    path = _write_plan(plan, plan.stage + 1, state)
    ev = {"event_id": uuid.uuid4().hex[:16], "ts": now_utc().replace(tzinfo=None), "from_stage": plan.stage,
          "to_stage": plan.stage + 1, "forced": bool(force and blockers), "reason": reason,
          "who": who or getpass.getuser(), "blockers": json.dumps(blockers), "rollout_file": str(path)}
    with db.write() as con:
        con.execute("insert into rollout_events values (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(ev.values()))
    return {**ev, "ts": ev["ts"].isoformat(), "blockers": blockers}
