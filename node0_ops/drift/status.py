"""Sensor status for ``gt-model status`` (no Dagster): last tick per sensor, last decision per
role, reverted conventions awaiting review.

Usage::

    from node0_ops.drift.status import sensor_status, format_sensor_status
    report = sensor_status(db)                 # JSON-friendly dict (for --json)
    print("\\n".join(format_sensor_status(report)))
"""

from node0_ops.corpus.schema import ROLES
from node0_ops.drift.decisions import flagged_reversions, last_by_role, last_ticks
from node0_ops.lineage.db import LineageDB

SENSORS = ("convention_drift", "new_sessions", "eval_regression")


def _ts(value) -> str:
    return str(value)[:19] if value is not None else "-"


def sensor_status(db: LineageDB) -> dict:
    """``{ticks: {sensor: {ts, outcome}}, roles: {role: {sensor: {ts, decision, score, files, run_keys}}},
    review: [{path, rel, detail, ts}]}`` (timestamps as ISO strings)."""
    ticks = {s: {"ts": _ts(t["ts"]), "outcome": t["outcome"]} for s, t in last_ticks(db).items()}
    roles = {}
    for role, per_sensor in last_by_role(db).items():
        roles[role] = {s: {"ts": _ts(r["ts"]), "decision": r["decision"], "score": r["score"],
                           "files": [f.get("path") for f in r["files"]], "run_keys": r["run_keys"],
                           "why": "; ".join(r["detail"].get("reasons", [])) or r["detail"].get("reason", "")}
                       for s, r in per_sensor.items()}
    review = [{"path": r["path"], "rel": r.get("rel", r["path"]), "detail": r.get("detail", ""), "ts": _ts(r["ts"])}
              for r in flagged_reversions(db)]
    return {"ticks": ticks, "roles": dict(sorted(roles.items())), "review": review}


def format_sensor_status(report: dict) -> list[str]:
    """Human lines: one per sensor tick, one per role decision, one per reversion under review."""
    lines = ["Sensors"]
    for s in SENSORS:
        t = report["ticks"].get(s)
        lines.append(f"  {s:<17} " + (f"last tick {t['ts']}  {t['outcome']}" if t else "never ticked"))
    lines.append("Last decision per role")
    if not report["roles"]:
        lines.append("  (none yet)")
    for role in [r for r in ROLES if r in report["roles"]] + [r for r in report["roles"] if r not in ROLES]:
        for s, d in sorted(report["roles"][role].items()):
            score = f" score {d['score']:.3f}" if isinstance(d["score"], (int, float)) else ""
            files = f" ({', '.join(d['files'][:3])}{', ...' if len(d['files']) > 3 else ''})" if d["files"] else ""
            why = f" - {d['why']}" if d["why"] else ""
            lines.append(f"  {role:<9} {s:<17} {d['decision']:<8} {d['ts']}{score}{files}{why}")
    for r in report["review"]:
        lines.append(f"  ! review: {r['detail'] or r['rel']} (flagged {r['ts']})")
    return lines
