"""Run orchestration: a JSON run spec -> data, base, adapters, Trainer, saved adapter, tracking.

Everything a run needs is in ``<run_dir>/spec.json`` so the same run can execute in this process,
in a child process (:mod:`node0_ops.train.worker`) or be resumed later by run_id. Training data
given as Python objects is written to ``<run_dir>/data/*.jsonl`` first; data from the lineage DB is
re-queried by corpus version (so a changed corpus is detected on resume).

Run folder ``<state>/artifacts/train_runs/<run_id>/``: ``spec.json``, ``checkpoints/``,
``loss_curve.png``, ``metrics.jsonl``, ``data/``. The adapter goes to ``spec["out_dir"]``.

Usage::

    spec = make_spec(kind="role", config=cfg, out_dir=..., data={"train_jsonl": ..., "val_jsonl": ...},
                     role="polecat", db_path=..., state=...)
    result = execute(spec)                       # TrainResult
"""

import datetime as _dt
import json
import os
import re
import secrets
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from node0_ops.train import checkpoint as ckpt
from node0_ops.train import data as D
from node0_ops.train import tracking

KINDS = ("role", "task", "dpo")


class ResumeMismatch(RuntimeError):
    """Resuming with a different corpus or base than the checkpoint was trained on."""


@dataclass
class TrainResult:
    """What a training call returns.

    Attributes:
        adapter_dir: saved adapter folder (None unless ``status == "completed"``).
        run_id: the run's id in ``train_runs``.  status: completed | paused | cancelled.
        metrics: final metrics (train/val loss, tokens/s, DPO reward margin/accuracy before/after).
        loss_curve_png: loss curve image.  run_dir: the run folder.  checkpoint: last checkpoint.
    """

    adapter_dir: str | None
    run_id: str
    metrics: dict
    loss_curve_png: str | None
    status: str = "completed"
    run_dir: str | None = None
    checkpoint: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id(kind: str, name: str | None) -> str:
    """``<kind>-<name>-<YYYYmmdd-HHMMSS>-<4 hex>``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return "-".join(x for x in (kind, name, stamp, secrets.token_hex(2)) if x)


def runs_root(state: str | os.PathLike | None = None, db_path: str | os.PathLike | None = None) -> Path:
    """``<state>/artifacts/train_runs`` (state = the DB's folder when a DB path is given)."""
    from node0_ops.paths import artifacts_dir, state_dir

    if state is None and db_path is not None:
        state = Path(db_path).parent
    return artifacts_dir("train_runs", state_dir(state))


def _config_cls(kind: str):
    if kind == "dpo":
        from node0_ops.train.dpo_config import DPOConfig

        return DPOConfig
    from node0_ops.train.sft_config import SFTConfig

    return SFTConfig


def _rows(items) -> list[dict]:
    out = []
    for it in items or []:
        d = it.to_dict() if hasattr(it, "to_dict") else dict(it)
        keep = {k: d[k] for k in ("example_id", "pair_id", "messages", "text", "prompt", "chosen", "rejected",
                                  "role", "task", "split") if d.get(k) is not None}
        out.append(keep)
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def make_spec(*, kind: str, config, out_dir: str | os.PathLike, train=None, val=None, data: dict | None = None,
              role: str | None = None, task: str | None = None, role_adapter_dir: str | None = None,
              db_path: str | os.PathLike | None = None, state: str | os.PathLike | None = None,
              corpus_version: str | None = None, run_id: str | None = None, run_dir: str | None = None,
              extra: dict | None = None) -> dict:
    """Build (and write to ``<run_dir>/spec.json``) a run spec.

    Args:
        kind: ``role`` | ``task`` | ``dpo``.
        config: SFTConfig/DPOConfig (or its dict).
        train, val: in-memory examples/pairs (``Example``/``DpoPair`` objects or dicts), written to
            ``<run_dir>/data``; or give ``data``.
        data: ``{"train_jsonl": path, "val_jsonl": path|None}`` or
            ``{"db": path, "corpus_version": v, "role": r, "task": t}``.
    Raises:
        ValueError: unknown kind, task run without a role adapter, or no data.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} must be one of {KINDS}")
    if kind == "task" and not role_adapter_dir:
        raise ValueError("a task adapter trains on top of a role adapter: pass role_adapter_dir (--role-adapter PATH)")
    cfg = config if isinstance(config, dict) else config.to_dict()
    _config_cls(kind).from_dict(cfg)  # validate early
    run_id = run_id or new_run_id({"role": "sft", "task": "task", "dpo": "dpo"}[kind], task if kind == "task" else role)
    rdir = Path(run_dir) if run_dir else runs_root(state, db_path) / run_id
    rdir.mkdir(parents=True, exist_ok=True)
    if data is None:
        if train is None:
            raise ValueError("no training data: pass train examples, a JSONL file or a corpus version")
        data = {"train_jsonl": _write_jsonl(rdir / "data" / "train.jsonl", _rows(train)),
                "val_jsonl": _write_jsonl(rdir / "data" / "val.jsonl", _rows(val)) if val else None}
    spec = {"run_id": run_id, "kind": kind, "config": cfg, "role": role, "task": task,
            "role_adapter_dir": str(role_adapter_dir) if role_adapter_dir else None,
            "out_dir": str(out_dir), "run_dir": str(rdir), "db_path": str(db_path) if db_path else None,
            "data": data, "corpus_version": corpus_version, "resume_checkpoint": None, "resumed_from": None,
            "allow_mismatch": False, "extra": extra or {}}
    write_spec(spec)
    return spec


def write_spec(spec: dict) -> Path:
    path = Path(spec["run_dir"]) / "spec.json"
    path.write_text(json.dumps(spec, indent=2, default=str))
    return path


def load_rows(spec: dict) -> tuple[list[dict], list[dict]]:
    """``(train_rows, val_rows)`` of a spec's data source (problems in JSONL are printed and skipped).

    Raises:
        DataError: no usable rows.
    """
    src = spec["data"]
    dpo = spec["kind"] == "dpo"
    if src.get("db"):
        db = tracking.open_db(src["db"])
        load = D.load_pairs_db if dpo else D.load_examples_db
        kw = {"role": src.get("role"), "task": src.get("task")}
        train = load(db, src["corpus_version"], split="train", **kw)
        val = load(db, src["corpus_version"], split="val", **kw)
    else:
        train, problems = D.read_jsonl(src["train_jsonl"])
        val, p2 = D.read_jsonl(src["val_jsonl"]) if src.get("val_jsonl") else ([], [])
        for p in problems + p2:
            print(f"[train] skipped {p}", file=sys.stderr)
    if not train:
        raise D.DataError(f"no training rows for run {spec['run_id']} from {src}")
    return train, val


def check_resume(meta: dict, corpus_hash: str, base_fp: str, allow_mismatch: bool) -> list[str]:
    """Compare a checkpoint's meta with the current corpus/base; raise unless allowed.

    Returns the list of mismatches (empty when identical).

    Raises:
        ResumeMismatch: something differs and ``allow_mismatch`` is False.
    """
    issues = []
    if meta.get("corpus_hash") != corpus_hash:
        issues.append(f"corpus changed: checkpoint trained on corpus {meta.get('corpus_version')} "
                      f"(hash {meta.get('corpus_hash')}), the data now hashes to {corpus_hash}")
    if meta.get("base_fingerprint") != base_fp:
        issues.append(f"base model changed: checkpoint base {meta.get('base')} (fingerprint "
                      f"{meta.get('base_fingerprint')}), now {base_fp}")
    if issues and not allow_mismatch:
        raise ResumeMismatch("refusing to resume: " + "; ".join(issues) + ". Optimizer state, data order and LoRA "
                             "weights belong to the old data/base, so the result would not be the run you started. "
                             "Start a new run, or pass allow_mismatch=True (--allow-mismatch) to continue anyway "
                             "(recorded in train_runs.mismatch_allowed).")
    return issues


def _setup_model(spec: dict, cfg, device: str):
    """Load the base and attach adapters for the run kind; returns (model, tokenizer, folder, trainable name)."""
    from node0_ops.train import adapters as A

    model, tok, folder = A.load_base_model(cfg, device)
    kind = spec["kind"]
    if kind == "role":
        return A.new_adapter(model, cfg.lora, "role"), tok, folder, "role"
    if kind == "task":
        return A.stack_task_adapter(model, spec["role_adapter_dir"], cfg.lora), tok, folder, "task"
    if spec.get("role_adapter_dir"):
        pm = A.load_trainable(model, spec["role_adapter_dir"], "policy")
        if cfg.reference == "role":
            A.add_frozen(pm, spec["role_adapter_dir"], "reference")
    else:
        if cfg.reference == "role":
            raise ValueError("reference=role needs a role adapter (--role-adapter PATH); use reference=base")
        pm = A.new_adapter(model, cfg.lora, "policy")
    return pm, tok, folder, "policy"


def execute(spec: dict, *, on_step: Callable | None = None, optimizer_factory: Callable | None = None,
            shard: tuple[int, int] = (0, 1), stop: ckpt.GracefulStop | None = None,
            progress: Callable[[dict], None] | None = None, peers_fn: Callable | None = None) -> TrainResult:
    """Run a spec to completion, pause or cancellation; track it in ``train_runs``/``train_metrics``.

    Raises:
        ResumeMismatch, InsufficientMemory, QLoRAUnsupported, DataError: before training starts
        (the run is marked ``failed`` with the message when a DB is used).
    """
    import torch

    from node0_ops.models.base import resolve_base
    from node0_ops.train import adapters as A
    from node0_ops.train.precision import weight_dtypes
    from node0_ops.train.resources_guard import check_memory
    from node0_ops.train.trainer import SFTObjective, Trainer

    emit = progress or (lambda e: None)
    kind = spec["kind"]
    cfg = _config_cls(kind).from_dict(spec["config"])
    db = tracking.open_db(spec["db_path"]) if spec.get("db_path") else None
    run_id, run_dir = spec["run_id"], Path(spec["run_dir"])
    stop = stop or ckpt.GracefulStop()
    started = False
    try:
        train_rows, val_rows = load_rows(spec)
        corpus_hash = D.content_hash(train_rows + val_rows)
        folder = resolve_base(cfg.base)
        base_fp = A.base_fingerprint(folder)
        corpus_version = spec.get("corpus_version") or spec["data"].get("corpus_version") or f"content:{corpus_hash}"
        resume_meta, issues = None, []
        if spec.get("resume_checkpoint"):
            _, _, resume_meta = ckpt.load_checkpoint(spec["resume_checkpoint"])
            issues = check_resume(resume_meta, corpus_hash, base_fp, spec.get("allow_mismatch", False))
        if db is not None:
            tracking.start_run(db, run_id=run_id, kind=kind, role=spec.get("role"), task=spec.get("task"),
                               base=cfg.base, base_fingerprint=base_fp, corpus_version=corpus_version,
                               corpus_hash=corpus_hash, config=cfg.to_dict(), run_dir=str(run_dir),
                               parent_adapter=spec.get("role_adapter_dir"), resumed_from=spec.get("resumed_from"),
                               mismatch_allowed=bool(issues))
        started = True
        (run_dir / "pid").write_text(json.dumps({"pid": os.getpid(), "pgid": os.getpgid(0)}))
        plan = A.resolve_precision(cfg)
        device, autocast = plan.device, plan.autocast()
        if cfg.check_memory:
            est = check_memory(cfg, folder, device, kind="dpo" if kind == "dpo" else "sft")
            emit({"event": "memory", "estimate_gb": round(est.total / 2 ** 30, 2), "free_gb": round(est.free / 2 ** 30, 2)})
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        ckpt.seed_everything(cfg.seed)
        model, tok, folder, name = _setup_model(spec, cfg, device)
        if kind == "dpo":
            from node0_ops.train.dpo import DPOObjective, tokenize_pairs

            train, rep = tokenize_pairs(train_rows, tok, cfg)
            val, vrep = tokenize_pairs(val_rows, tok, cfg)
            objective = DPOObjective(cfg, device, autocast, reference=cfg.reference)
        else:
            train, rep = D.tokenize_examples(train_rows, tok, cfg.max_seq_len, cfg.truncate_long)
            val, vrep = D.tokenize_examples(val_rows, tok, cfg.max_seq_len, cfg.truncate_long)
            objective = SFTObjective(cfg, device, autocast)
        if not train:
            raise D.DataError(f"no usable training rows after tokenization: {rep.problems[:5]}")
        emit({"event": "data", "train": rep.to_dict(), "val": vrep.to_dict()})
        meta = {"run_id": run_id, "kind": kind, "corpus_version": corpus_version, "corpus_hash": corpus_hash,
                "base": cfg.base, "base_fingerprint": base_fp, "config": cfg.to_dict(),
                "precision": dict(plan.to_dict(), params=weight_dtypes(model))}
        writer = tracking.MetricsWriter(db, run_id)
        metrics_log = open(run_dir / "metrics.jsonl", "a")

        def _on_step(m) -> None:
            writer(m)
            metrics_log.write(json.dumps(m.to_dict()) + "\n")
            metrics_log.flush()
            emit({"event": "step", **m.to_dict(), "total_steps": total_steps})
            if on_step:
                on_step(m)

        trainer = Trainer(model, cfg, train, val, objective=objective, optimizer_factory=optimizer_factory,
                          shard=shard, on_step=_on_step, peers_fn=peers_fn, run_dir=run_dir, stop=stop,
                          checkpoint_meta=meta, trainable_adapter=name, device=device, autocast_dtype=autocast)
        total_steps = trainer.total_steps()
        before = {}
        if spec.get("resume_checkpoint"):
            trainer.resume_from(spec["resume_checkpoint"])
            before = dict(resume_meta.get("before") or {})
        elif kind == "dpo":
            objective.prepare(model, trainer.train_data, val)
            before = trainer.evaluate()
        trainer.checkpoint_meta["before"] = before
        emit({"event": "precision", **meta["precision"]})
        emit({"event": "start", "run_id": run_id, "total_steps": total_steps, "start_step": len(trainer.history)})
        outcome = trainer.train()
        writer.flush()
        metrics_log.close()
        metrics = dict(outcome.metrics, data=rep.to_dict(), val_data=vrep.to_dict(), precision=meta["precision"])
        if before:
            metrics["before"] = before
        if issues:
            metrics["resume_mismatch"] = issues
        png = tracking.plot_loss_curve(outcome.history, run_dir / "loss_curve.png", title=f"{run_id} ({kind})")
        adapter_dir = None
        if outcome.status == "completed":
            adapter_meta = {
                "kind": kind, "role": spec.get("role"), "task": spec.get("task"),
                "parent_adapter": spec.get("role_adapter_dir"), "run_id": run_id, "base": cfg.base,
                "base_folder": str(folder), "base_fingerprint": base_fp, "corpus_version": corpus_version,
                "corpus_hash": corpus_hash, "hyperparameters": cfg.to_dict(), "metrics": metrics,
                "created_at": _dt.datetime.now().isoformat(timespec="seconds"),
                "stack": ("base + role + task" if kind == "task" else "base + adapter"),
                "precision": meta["precision"],
                **(spec.get("extra") or {}),   # e.g. the data mixture of a role adapter (lineage)
            }
            adapter_dir = str(A.save_adapter(model, name, spec["out_dir"], adapter_meta))
            import shutil

            shutil.copy(png, Path(adapter_dir) / "loss_curve.png")
        if db is not None:
            tracking.finish_run(db, run_id, outcome.status, adapter_path=adapter_dir, metrics=metrics)
        result = TrainResult(adapter_dir, run_id, metrics, str(png), outcome.status, str(run_dir), outcome.checkpoint)
        emit({"event": "end", "result": result.to_dict()})
        return result
    except BaseException as exc:
        if db is not None and started:
            status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
            try:
                tracking.finish_run(db, run_id, status, error=f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001 - keep the original error
                traceback.print_exc()
        elif db is not None and not isinstance(exc, KeyboardInterrupt):
            try:
                tracking.start_run(db, run_id=run_id, kind=kind, role=spec.get("role"), task=spec.get("task"),
                                   base=cfg.base, base_fingerprint="", corpus_version=spec.get("corpus_version"),
                                   corpus_hash="", config=cfg.to_dict(), run_dir=str(run_dir),
                                   resumed_from=spec.get("resumed_from"))
                tracking.finish_run(db, run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        raise


def resume_spec(old: dict, *, allow_mismatch: bool = False, data: dict | None = None, base: str | None = None,
                corpus_version: str | None = None) -> dict:
    """Spec for continuing run ``old`` from its newest checkpoint under a new run_id.

    Raises:
        FileNotFoundError: the run has no checkpoint.
    """
    last = ckpt.latest_checkpoint(old["run_dir"])
    if last is None:
        raise FileNotFoundError(f"run {old['run_id']} has no checkpoint in {old['run_dir']}/checkpoints: nothing to resume")
    spec = json.loads(json.dumps(old))
    root = Path(old["run_dir"]).parent
    n = 2
    stem = re.sub(r"-r\d+$", "", old["run_id"])
    while (root / f"{stem}-r{n}").exists():
        n += 1
    spec["run_id"] = f"{stem}-r{n}"
    spec["run_dir"] = str(root / spec["run_id"])
    Path(spec["run_dir"]).mkdir(parents=True, exist_ok=True)
    spec["resume_checkpoint"] = str(last)
    spec["resumed_from"] = old["run_id"]
    spec["allow_mismatch"] = bool(allow_mismatch)
    if data:
        spec["data"] = data
    if corpus_version:
        spec["corpus_version"] = corpus_version
        if spec["data"].get("db"):
            spec["data"]["corpus_version"] = corpus_version
    if base:
        spec["config"]["base"] = base
    write_spec(spec)
    return spec


def find_spec(run_id: str, *, db_path: str | os.PathLike | None = None, state: str | os.PathLike | None = None) -> dict:
    """Load a run's spec by run_id (from ``train_runs.run_dir`` or the state's runs folder).

    Raises:
        KeyError: unknown run_id.
    """
    candidates = []
    if db_path and Path(db_path).exists():
        row = tracking.get_run(tracking.open_db(db_path), run_id)
        if row and row.get("run_dir"):
            candidates.append(Path(row["run_dir"]))
    candidates.append(runs_root(state, db_path) / run_id)
    for c in candidates:
        if (c / "spec.json").exists():
            return json.loads((c / "spec.json").read_text())
    raise KeyError(f"unknown run_id {run_id!r}: no spec.json under {', '.join(str(c) for c in candidates)}")


def spec_result_hint(spec: dict) -> dict[str, Any]:
    """Small dict describing a spec (for logs)."""
    return {k: spec.get(k) for k in ("run_id", "kind", "role", "task", "out_dir", "run_dir")}
