"""Training run tracking in the lineage DuckDB (``train_runs``, ``train_metrics``) + loss curves.

Writes use short connections through :class:`node0_ops.lineage.db.LineageDB` (DuckDB has a single
writer; never hold a connection across training). Step metrics are buffered and flushed every
``flush_every`` steps, on eval/checkpoint and at the end.

Tables::

    train_runs(run_id PK, kind role|task|dpo, role, task, base, base_fingerprint, corpus_version,
               corpus_hash, config JSON, status running|paused|completed|failed|cancelled, pid, pgid,
               started_at, ended_at, run_dir, adapter_path, parent_adapter, metrics JSON,
               resumed_from, mismatch_allowed, error)
    train_metrics(run_id, step, loss, lr, grad_norm, tokens_per_s, peers, val_loss, ts,
                  PK (run_id, step))

Usage::

    db = open_db(path)                                # the LineageDB (schema.sql has these tables)
    start_run(db, run_id="sft-...", kind="role", ...)
    tracker = MetricsWriter(db, run_id); tracker(step_metrics); tracker.flush()
    finish_run(db, run_id, "completed", adapter_path=..., metrics={...})
    plot_loss_curve(history, "loss.png")
"""

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Sequence

from node0_ops.lineage.db import LineageDB, dumps, upsert

STATUSES = ("running", "paused", "completed", "failed", "cancelled")


def open_db(path: str | Path | LineageDB) -> LineageDB:
    """LineageDB at ``path`` (pass-through for a LineageDB)."""
    return path if isinstance(path, LineageDB) else LineageDB(path)


def _now() -> _dt.datetime:
    return _dt.datetime.now()


def start_run(db: LineageDB, *, run_id: str, kind: str, role: str | None, task: str | None, base: str,
              base_fingerprint: str, corpus_version: str | None, corpus_hash: str, config: dict, run_dir: str,
              parent_adapter: str | None = None, resumed_from: str | None = None,
              mismatch_allowed: bool = False, pid: int | None = None) -> None:
    """Insert (or replace) a ``running`` row for a run."""
    pid = pid or os.getpid()
    with db.write() as con:
        upsert(con, "train_runs", [{
            "run_id": run_id, "kind": kind, "role": role, "task": task, "base": base,
            "base_fingerprint": base_fingerprint, "corpus_version": corpus_version, "corpus_hash": corpus_hash,
            "config": dumps(config), "status": "running", "pid": pid, "pgid": os.getpgid(pid),
            "started_at": _now(), "ended_at": None, "run_dir": run_dir, "adapter_path": None,
            "parent_adapter": parent_adapter, "metrics": None, "resumed_from": resumed_from,
            "mismatch_allowed": bool(mismatch_allowed), "error": None}])


def finish_run(db: LineageDB, run_id: str, status: str, *, adapter_path: str | None = None,
               metrics: dict | None = None, error: str | None = None) -> None:
    """Set the final status (``completed``/``paused``/``failed``/``cancelled``) and results.

    Raises:
        ValueError: unknown status.
    """
    if status not in STATUSES:
        raise ValueError(f"status {status!r} must be one of {STATUSES}")
    with db.write() as con:
        con.execute("update train_runs set status = ?, ended_at = ?, adapter_path = coalesce(?, adapter_path), "
                    "metrics = coalesce(?, metrics), error = ? where run_id = ?",
                    [status, _now(), adapter_path, dumps(metrics) if metrics is not None else None, error, run_id])


def set_status(db: LineageDB, run_id: str, status: str) -> None:
    """Change only the status (e.g. ``cancelled`` from the cancel command)."""
    with db.write() as con:
        con.execute("update train_runs set status = ?, ended_at = coalesce(ended_at, ?) where run_id = ?",
                    [status, _now(), run_id])


def get_run(db: LineageDB, run_id: str) -> dict | None:
    """One ``train_runs`` row (config/metrics decoded), or None."""
    rows = db.query("select * from train_runs where run_id = ?", [run_id])
    if not rows:
        return None
    row = rows[0]
    for k in ("config", "metrics"):
        row[k] = json.loads(row[k]) if row.get(k) else None
    return row


def list_runs(db: LineageDB, limit: int = 50) -> list[dict]:
    """Newest runs first (config/metrics decoded)."""
    rows = db.query("select * from train_runs order by started_at desc limit ?", [limit])
    for row in rows:
        for k in ("config", "metrics"):
            row[k] = json.loads(row[k]) if row.get(k) else None
    return rows


def run_metrics(db: LineageDB, run_id: str) -> list[dict]:
    """``train_metrics`` rows of a run by step."""
    return db.query("select * from train_metrics where run_id = ? order by step", [run_id])


class MetricsWriter:
    """Callable ``on_step`` hook that buffers :class:`StepMetrics` and writes ``train_metrics`` rows."""

    def __init__(self, db: LineageDB | None, run_id: str, flush_every: int = 10):
        self.db, self.run_id, self.flush_every = db, run_id, flush_every
        self.buffer: list[dict] = []

    def __call__(self, m) -> None:
        self.buffer.append({"run_id": self.run_id, "step": m.step, "loss": m.loss, "lr": m.lr,
                            "grad_norm": m.grad_norm, "tokens_per_s": m.tokens_per_s, "peers": m.peers,
                            "val_loss": m.val_loss, "ts": _dt.datetime.fromtimestamp(m.ts or 0)})
        if len(self.buffer) >= self.flush_every or m.val_loss is not None:
            self.flush()

    def flush(self) -> None:
        if self.db is None or not self.buffer:
            self.buffer.clear()
            return
        rows, self.buffer = self.buffer, []
        with self.db.write() as con:
            upsert(con, "train_metrics", rows)


def plot_loss_curve(history: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Write a PNG with training loss (and val loss points) against step (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss"] for h in history], label="train loss", lw=1.5)
    val = [(h["step"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    if val:
        ax.plot([v[0] for v in val], [v[1] for v in val], "o-", label="val loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def compare_table(a: dict, b: dict) -> str:
    """Side-by-side text table of two ``train_runs`` rows (config diff + final metrics)."""
    def flat(d: dict | None, prefix: str = "") -> dict:
        out = {}
        for k, v in (d or {}).items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    fields = ["run_id", "kind", "role", "task", "status", "base", "corpus_version", "started_at", "ended_at"]
    rows = [(f, a.get(f), b.get(f)) for f in fields]
    ca, cb = flat(a.get("config")), flat(b.get("config"))
    rows += [(f"config.{k}", ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)]
    ma, mb = flat(a.get("metrics")), flat(b.get("metrics"))
    rows += [(f"metrics.{k}", ma.get(k), mb.get(k)) for k in sorted(set(ma) | set(mb))]

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(fmt(r[1])) for r in rows)
    lines = [f"{'field'.ljust(w0)}  {'A'.ljust(w1)}  B", "-" * (w0 + w1 + 20)]
    lines += [f"{r[0].ljust(w0)}  {fmt(r[1]).ljust(w1)}  {fmt(r[2])}" for r in rows]
    return "\n".join(lines)
