"""What the sensors decided, in the lineage DB, so ``gt-model status`` can show it without Dagster.

Tables (declared in ``node0_ops/lineage/schema.sql``):

- ``sensor_decisions``: one row per decision. ``decision`` is ``fired`` (a run was requested
  or a rollback done), ``skipped`` (drift below the threshold, eval within bounds) or
  ``flagged`` (held for review: reverted conventions, eval regression without rollback).
  ``roles`` the roles it concerns, ``score`` the drift score / eval score, ``files`` JSON
  list of ``{path, status, weight, ...}``, ``run_keys`` the Dagster run keys requested,
  ``detail`` JSON (baseline corpus version, threshold, reversions, model, rollback ...).
  ``decision_id`` is derived from the decision's content, so a tick evaluated twice (a
  restart without its cursor) rewrites its row instead of adding one.
- ``sensor_ticks``: the latest tick of each sensor (``ts``, ``outcome``, ``detail``).

Usage::

    db = open_decisions_db(state)
    record_decisions(db, [Decision("convention_drift", "fired", ["crew"], 0.12, files, ["ab12"], {...})])
    record_tick(db, "convention_drift", "fired 1 role")
    last_by_role(db)          # {role: {sensor: latest row}}
"""

import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from node0_ops.corpus.schema import stable_id
from node0_ops.lineage.db import LineageDB, dumps, upsert
from node0_ops.paths import lineage_db_path

DECISIONS = ("fired", "skipped", "flagged")
def now_utc() -> _dt.datetime:
    """Naive UTC timestamp (the lineage DB's convention)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


@dataclass
class Decision:
    """One sensor decision (see the module table).

    Raises:
        ValueError: ``decision`` is not fired/skipped/flagged.
    """

    sensor: str
    decision: str
    roles: list[str]
    score: float | None
    files: list[dict] = field(default_factory=list)
    run_keys: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    key: str | None = None   # identity of the decision (default: its content)

    def __post_init__(self):
        if self.decision not in DECISIONS:
            raise ValueError(f"decision={self.decision!r} must be one of {DECISIONS}")

    @property
    def decision_id(self) -> str:
        ident = self.key or stable_id(sorted(self.roles), self.score, self.files, sorted(self.run_keys))
        return stable_id(self.sensor, self.decision, ident)


def open_decisions_db(state: str | os.PathLike | None = None) -> LineageDB:
    """The lineage DB of ``state`` with the sensor tables."""
    return LineageDB(lineage_db_path(state))


def record_decisions(db: LineageDB, decisions: Sequence[Decision], ts: _dt.datetime | None = None) -> int:
    """Upsert decisions (idempotent by ``decision_id``). Returns rows written."""
    if not decisions:
        return 0
    ts = ts or now_utc()
    rows = [{"decision_id": d.decision_id, "ts": ts, "sensor": d.sensor, "decision": d.decision,
             "roles": list(d.roles), "score": None if d.score is None else float(d.score),
             "files": dumps(d.files), "run_keys": list(d.run_keys), "detail": dumps(d.detail)} for d in decisions]
    with db.write() as con:
        return upsert(con, "sensor_decisions", rows)


def record_tick(db: LineageDB, sensor: str, outcome: str, detail: dict | None = None) -> None:
    """Remember a sensor's latest tick (one row per sensor)."""
    with db.write() as con:
        upsert(con, "sensor_ticks", [{"sensor": sensor, "ts": now_utc(), "outcome": outcome,
                                      "detail": dumps(detail or {})}])


def _decode(row: dict) -> dict:
    row = dict(row)
    for k in ("files", "detail"):
        row[k] = json.loads(row[k]) if row.get(k) else ([] if k == "files" else {})
    row["roles"] = list(row.get("roles") or [])
    row["run_keys"] = list(row.get("run_keys") or [])
    return row


def list_decisions(db: LineageDB, *, sensor: str | None = None, decision: str | None = None,
                   role: str | None = None, limit: int | None = None) -> list[dict]:
    """Decision rows, newest first, JSON columns decoded."""
    sql, params = "select * from sensor_decisions where 1=1", []
    for col, val in (("sensor", sensor), ("decision", decision)):
        if val:
            sql, params = sql + f" and {col} = ?", params + [val]
    if role:
        sql, params = sql + " and list_contains(roles, ?)", params + [role]
    sql += " order by ts desc, decision_id"
    if limit:
        sql += f" limit {int(limit)}"
    return [_decode(r) for r in db.query(sql, params)]


def last_by_role(db: LineageDB) -> dict[str, dict[str, dict]]:
    """``{role: {sensor: newest decision row}}``."""
    out: dict[str, dict[str, dict]] = {}
    for row in list_decisions(db):
        for role in row["roles"]:
            out.setdefault(role, {}).setdefault(row["sensor"], row)
    return out


def last_ticks(db: LineageDB) -> dict[str, dict]:
    """``{sensor: {ts, outcome, detail}}``."""
    out = {}
    for r in db.query("select * from sensor_ticks order by sensor"):
        out[r["sensor"]] = {"ts": r["ts"], "outcome": r["outcome"],
                            "detail": json.loads(r["detail"]) if r["detail"] else {}}
    return out


def flagged_reversions(db: LineageDB) -> list[dict]:
    """Reverted files flagged by the drift sensor, newest first: ``[{path, sha256, to_version,
    n_versions, previous_sha256, ts, roles, decision_id}]`` (one per path and sha)."""
    out, seen = [], set()
    for row in list_decisions(db, sensor="convention_drift", decision="flagged"):
        for rev in row["detail"].get("reversions", []):
            key = (rev["path"], rev["sha256"])
            if key in seen:
                continue
            seen.add(key)
            out.append({**rev, "ts": row["ts"], "roles": row["roles"], "decision_id": row["decision_id"]})
    return out
