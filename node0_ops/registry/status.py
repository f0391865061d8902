"""``gt-model status``: the one screen an operator checks, per role.

Active model and version, last eval score, corpus drift score, last sensor tick and decision,
and whether a retrain is pending (a drift sensor fired after the role's newest model was made).
Reads the registry tables and the sensors' ``sensor_decisions``/``sensor_ticks`` rows.
"""

from node0_ops.corpus.schema import ROLES
from node0_ops.drift.status import format_sensor_status, sensor_status
from node0_ops.lineage.db import LineageDB
from node0_ops.registry.store import list_models


def role_status(db: LineageDB) -> dict:
    """``{roles: {role: {...}}, sensors: <sensor_status report>}`` (JSON-ready)."""
    sensors = sensor_status(db)
    models = list_models(db)
    out = {}
    for role in ROLES:
        mine = [m for m in models if m["role"] == role]
        active = next((m for m in mine if m["status"] == "active"), None)
        newest = max(mine, key=lambda m: m["version"], default=None)
        decisions = sensors["roles"].get(role, {})
        drift = decisions.get("convention_drift", {})
        pending = bool(drift and drift.get("decision") == "fired" and
                       (newest is None or str(drift.get("ts")) > str(newest.get("created_at"))))
        out[role] = {
            "active": f"{active['name']}@{active['version']}" if active else None,
            "newest": f"{newest['name']}@{newest['version']} ({newest['status']})" if newest else None,
            "eval_score": (active or newest or {}).get("eval_score"),
            "drift_score": drift.get("score"), "last_decision": drift.get("decision"),
            "last_decision_at": drift.get("ts"), "pending_retrain": pending,
        }
    return {"roles": out, "sensors": sensors}


def format_status(report: dict) -> str:
    """Aligned table (Gas Town CLI style) plus the sensors' tick and review lines."""
    head = f"  {'ROLE':9} {'ACTIVE':16} {'NEWEST':26} {'EVAL':>5} {'DRIFT':>6}  {'LAST DECISION':28} PENDING"
    lines = ["Roles", head]
    for role, r in report["roles"].items():
        ev = f"{r['eval_score']:.2f}" if isinstance(r["eval_score"], (int, float)) else "-"
        dr = f"{r['drift_score']:.3f}" if isinstance(r["drift_score"], (int, float)) else "-"
        dec = f"{r['last_decision']} {str(r['last_decision_at'])[:19]}" if r["last_decision"] else "-"
        mark = "●" if r["active"] else "○"
        lines.append(f"{mark} {role:9} {r['active'] or '-':16} {r['newest'] or '-':26} {ev:>5} {dr:>6}  {dec:28} "
                     f"{'retrain pending' if r['pending_retrain'] else '-'}")
    return "\n".join(lines + [""] + format_sensor_status(report["sensors"]))
