"""Python API for training (what the Dagster resource calls; no dagster import here).

Usage::

    from node0_ops.train.api import train_role_adapter, train_task_adapter, train_dpo, run_in_subprocess
    res = train_role_adapter(SFTConfig(max_steps=20), train_examples, val_examples, out_dir,
                             db=lineage_db, run_meta={"role": "polecat", "corpus_version": v})
    res.adapter_dir, res.run_id, res.metrics, res.loss_curve_png
    res = train_task_adapter(cfg, ex_train, ex_val, out_dir, role_adapter_dir=res.adapter_dir,
                             run_meta={"role": "polecat", "task": "git-workflow"})
    res = train_dpo(DPOConfig(beta=0.1), pairs_train, pairs_val, out_dir, role_adapter_dir=role_dir)
    res = run_in_subprocess("role", cfg, train_examples, val_examples, out_dir, progress=print)
    resume_run(run_id, db=db); cancel_run(run_id, db=db); pause_run(run_id, db=db)

Examples are ``node0_ops.corpus.schema.Example`` objects or dicts with ``messages`` (or ``text``);
pairs are ``DpoPair`` objects or dicts with ``prompt``, ``chosen``, ``rejected``. ``run_meta`` keys:
``role``, ``task``, ``corpus_version``, ``run_id``, ``run_dir``, ``state`` (state dir when no DB).
The in-process calls never install signal handlers (the host owns them); they stop on
``stop.request()`` or the ``CANCEL``/``PAUSE`` marker files that :func:`cancel_run`/:func:`pause_run` write.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from node0_ops.lineage.db import LineageDB
from node0_ops.train import checkpoint as ckpt
from node0_ops.train import runner, tracking
from node0_ops.train.runner import ResumeMismatch, TrainResult  # noqa: F401 - re-exported

REPO_ROOT = Path(__file__).resolve().parents[2]


def _db_path(db) -> str | None:
    if db is None:
        return None
    return str(db.path if isinstance(db, LineageDB) else db)


def _spec(kind, cfg, train, val, out_dir, role_adapter_dir, db, run_meta) -> dict:
    meta = dict(run_meta or {})
    return runner.make_spec(kind=kind, config=cfg, out_dir=out_dir, train=train, val=val, data=meta.get("data"),
                            role=meta.get("role"), task=meta.get("task"), role_adapter_dir=role_adapter_dir,
                            db_path=_db_path(db), state=meta.get("state"), corpus_version=meta.get("corpus_version"),
                            run_id=meta.get("run_id"), run_dir=meta.get("run_dir"), extra=meta.get("extra"))


def train_role_adapter(cfg, examples_train, examples_val, out_dir, *, db=None, run_meta: dict | None = None,
                       on_step: Callable | None = None, optimizer_factory: Callable | None = None,
                       shard: tuple[int, int] = (0, 1), stop: ckpt.GracefulStop | None = None) -> TrainResult:
    """Train a role LoRA adapter (SFT) on one role's examples; saves it to ``out_dir``.

    Returns:
        TrainResult(adapter_dir, run_id, metrics, loss_curve_png, status, run_dir, checkpoint).
    Raises:
        ValueError (bad config), DataError (no usable examples), InsufficientMemory, QLoRAUnsupported.
    """
    spec = _spec("role", cfg, examples_train, examples_val, out_dir, None, db, run_meta)
    return runner.execute(spec, on_step=on_step, optimizer_factory=optimizer_factory, shard=shard, stop=stop)


def train_task_adapter(cfg, examples_train, examples_val, out_dir, *, role_adapter_dir, db=None,
                       run_meta: dict | None = None, on_step: Callable | None = None,
                       optimizer_factory: Callable | None = None, shard: tuple[int, int] = (0, 1),
                       stop: ckpt.GracefulStop | None = None) -> TrainResult:
    """Train a task LoRA adapter with the role adapter loaded, active and frozen (base + role + task)."""
    spec = _spec("task", cfg, examples_train, examples_val, out_dir, role_adapter_dir, db, run_meta)
    return runner.execute(spec, on_step=on_step, optimizer_factory=optimizer_factory, shard=shard, stop=stop)


def train_dpo(cfg, pairs_train, pairs_val, out_dir, *, role_adapter_dir=None, db=None, run_meta: dict | None = None,
              on_step: Callable | None = None, optimizer_factory: Callable | None = None,
              shard: tuple[int, int] = (0, 1), stop: ckpt.GracefulStop | None = None) -> TrainResult:
    """DPO starting from a role adapter; metrics hold reward margin/accuracy ``before`` and after."""
    spec = _spec("dpo", cfg, pairs_train, pairs_val, out_dir, role_adapter_dir, db, run_meta)
    return runner.execute(spec, on_step=on_step, optimizer_factory=optimizer_factory, shard=shard, stop=stop)


def run_spec_in_subprocess(spec: dict, progress: Callable[[dict], None] | None = None,
                           env: dict | None = None) -> TrainResult:
    """Run a spec in a child process (own session/process group), streaming its events to ``progress``.

    Ctrl-C / KeyboardInterrupt in the caller forwards SIGTERM to the child, which checkpoints and
    ends ``paused``; the call then returns that result.

    Raises:
        RuntimeError: the child failed (message has its error and the log tail).
    """
    spec_path = Path(spec["run_dir"]) / "spec.json"
    log_path = Path(spec["run_dir"]) / "worker.log"
    child_env = dict(os.environ, **(env or {}))
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "node0_ops.train.worker", str(spec_path)],
                                stdout=subprocess.PIPE, stderr=log, env=child_env, start_new_session=True)
        result, error = None, None
        try:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if event.get("event") == "end":
                    result = TrainResult(**event["result"])
                elif event.get("event") == "error":
                    error = event["error"]
                if progress:
                    progress(event)
            proc.wait()
        except KeyboardInterrupt:
            _signal_group(proc.pid, signal.SIGTERM)
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if event.get("event") == "end":
                    result = TrainResult(**event["result"])
            proc.wait()
        finally:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
    if result is None:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        raise RuntimeError(f"training run {spec['run_id']} failed (exit {proc.returncode}): {error}\n{tail}")
    return result


def run_in_subprocess(kind: str, cfg, train, val, out_dir, *, role_adapter_dir=None, db=None,
                      run_meta: dict | None = None, progress: Callable[[dict], None] | None = None) -> TrainResult:
    """Same as the ``train_*`` calls (``kind`` = role | task | dpo) in a child process: isolates the
    model's memory from the caller and streams progress events (``{"event": "step", ...}``)."""
    spec = _spec(kind, cfg, train, val, out_dir, role_adapter_dir, db, run_meta)
    return run_spec_in_subprocess(spec, progress)


def resume_run(run_id: str, *, db=None, state=None, allow_mismatch: bool = False, data: dict | None = None,
               base: str | None = None, corpus_version: str | None = None, in_subprocess: bool = False,
               progress: Callable[[dict], None] | None = None, on_step: Callable | None = None) -> TrainResult:
    """Continue a paused/killed run from its newest checkpoint under a new run_id
    (``train_runs.resumed_from`` = the old one); the adapter goes to the original ``out_dir``.

    Raises:
        KeyError: unknown run.  FileNotFoundError: no checkpoint.
        ResumeMismatch: corpus or base changed and ``allow_mismatch`` is False.
    """
    old = runner.find_spec(run_id, db_path=_db_path(db), state=state)
    if _db_path(db):
        old["db_path"] = _db_path(db)
    spec = runner.resume_spec(old, allow_mismatch=allow_mismatch, data=data, base=base, corpus_version=corpus_version)
    if in_subprocess:
        return run_spec_in_subprocess(spec, progress)
    return runner.execute(spec, progress=progress, on_step=on_step)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``pgid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(d.name))
    return out


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _locate(run_id: str, db, state) -> tuple[dict, dict | None]:
    spec = runner.find_spec(run_id, db_path=_db_path(db), state=state)
    pid_file = Path(spec["run_dir"]) / "pid"
    pids = json.loads(pid_file.read_text()) if pid_file.exists() else None
    return spec, pids


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def _stop_run(run_id: str, marker: str, status: str, *, db=None, state=None, timeout: float = 60.0) -> dict:
    spec, pids = _locate(run_id, db, state)
    run_dir = Path(spec["run_dir"])
    (run_dir / marker).write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    report = {"run_id": run_id, "pid": None, "pgid": None, "signalled": False, "forced": False, "orphans": []}
    dbh = tracking.open_db(_db_path(db)) if _db_path(db) else None
    if pids:
        pid, pgid = pids["pid"], pids["pgid"]
        report.update(pid=pid, pgid=pgid)
        owns_group = pid == pgid
        if owns_group and _alive(pid):
            os.kill(pid, signal.SIGTERM)  # the trainer checkpoints and exits cleanly
            report["signalled"] = True
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:  # in-process runs stop via the marker file
            time.sleep(0.2)
        if owns_group:
            left = _group_members(pgid)  # e.g. helper processes (hivemind's p2pd) of the worker
            if left:
                _signal_group(pgid, signal.SIGTERM)
                end = time.monotonic() + 5.0
                while _group_members(pgid) and time.monotonic() < end:
                    time.sleep(0.1)
            if _group_members(pgid):
                _signal_group(pgid, signal.SIGKILL)
                report["forced"] = True
                end = time.monotonic() + 10.0
                while _group_members(pgid) and time.monotonic() < end:
                    time.sleep(0.1)
            report["orphans"] = _group_members(pgid)
    if dbh is not None:
        row = tracking.get_run(dbh, run_id)
        if row and (status == "cancelled" or row["status"] == "running"):
            tracking.set_status(dbh, run_id, status)
    report["status"] = status
    return report


def cancel_run(run_id: str, *, db=None, state=None, timeout: float = 60.0) -> dict:
    """Cancel a run: write its ``CANCEL`` marker, SIGTERM the worker (it checkpoints and exits),
    then SIGTERM/SIGKILL whatever is left of its process group, and mark it ``cancelled``.

    Only a worker that leads its own process group (``run_in_subprocess``, the CLI) is signalled;
    an in-process run (e.g. inside Dagster) stops at its next step through the marker file.

    Returns:
        ``{"run_id", "pid", "pgid", "signalled", "forced", "orphans": [pids], "status"}``.
    """
    return _stop_run(run_id, ckpt.CANCEL_MARKER, "cancelled", db=db, state=state, timeout=timeout)


def pause_run(run_id: str, *, db=None, state=None, timeout: float = 60.0) -> dict:
    """Pause a run: checkpoint and stop (status ``paused``); continue with :func:`resume_run`."""
    return _stop_run(run_id, ckpt.PAUSE_MARKER, "paused", db=db, state=state, timeout=timeout)
