"""Exports and eval reports in the lineage DB: the SQL of the model stages (tables in ``schema.sql``).

- ``exports``: one row per export folder (``export_dir``) with the role, the adapter it merged, the
  corpus version and the exporter's result JSON (``ggufs``, ``lora_ggufs``, ``merged_dir`` ...).
- ``eval_reports``: one row per eval of a candidate against its base (``report_id``), with the
  reports (:class:`node0_ops.evals.report.EvalReport` JSON) and the gate outcome; ``model_label`` is
  ``node0-<role>`` until the registry names it (``<role>-v<N>@<N>``).

Usage::

    save_export(db, out_dir, role="deacon", adapter_dir=a, corpus_version=v, result=res.to_dict())
    export_row(db, out_dir)              # {"export_dir", "adapter_dir", "result": {...}, ...} or None
    save_eval_report(db, {"report_id": ..., "role": ..., ...})
    eval_report_row(db, report_id)       # the row, or None
    label_report(db, report_id, "deacon-v2@2")
"""

import datetime as _dt
import json

from node0_ops.lineage.db import LineageDB, dumps, upsert


def save_export(db: LineageDB, export_dir: str, *, role: str, adapter_dir: str, corpus_version: str | None,
                result: dict) -> None:
    """Record one export folder (replaces a row of the same ``export_dir``)."""
    with db.write() as con:
        upsert(con, "exports", [{"export_dir": str(export_dir), "role": role, "adapter_dir": str(adapter_dir),
                                 "corpus_version": corpus_version, "created_at": _dt.datetime.now(),
                                 "result": dumps(result)}])


def export_row(db: LineageDB, export_dir: str) -> dict | None:
    """The ``exports`` row of ``export_dir`` with ``result`` parsed from JSON, or None when unknown."""
    rows = db.query("select * from exports where export_dir = ?", [str(export_dir)])
    if not rows:
        return None
    row = rows[0]
    row["result"] = json.loads(row["result"]) if row["result"] else {}
    return row


def save_eval_report(db: LineageDB, row: dict) -> None:
    """Record an eval report row (keys = ``eval_reports`` columns; ``created_at`` defaults to now)."""
    with db.write() as con:
        upsert(con, "eval_reports", [{"created_at": _dt.datetime.now(), **row}])


def eval_report_row(db: LineageDB, report_id: str) -> dict | None:
    """The ``eval_reports`` row of ``report_id``, or None when unknown."""
    rows = db.query("select * from eval_reports where report_id = ?", [report_id])
    return rows[0] if rows else None


def label_report(db: LineageDB, report_id: str, model_label: str) -> None:
    """Name the registered model an eval report judged (``model_label`` = its registry ref)."""
    with db.write() as con:
        con.execute("update eval_reports set model_label = ? where report_id = ?", [model_label, report_id])
