"""Training assets: role adapters (by role), task adapters (by task), DPO adapters (by role)."""

import base64
from pathlib import Path

import dagster as dg

from gastown_assets.defs.handles import AdapterHandle, CorpusVersionHandle, DpoPairsHandle
from gastown_assets.defs.corpus.partitions import role_partitions, task_partitions
from gastown_assets.defs.job_beads import note_checkpoints, training_job
from gastown_assets.defs.materializations import upstream_handle
from node0_ops.corpus import store
from resources import LineageResource, TownResource
from resources.trainer import TrainerResource

GROUP = "training"
POOL = "training"  # dagster.yaml sets every pool's limit to 1: trainings never overlap
MIN_TRAIN_EXAMPLES = 4


class RoleAdapterConfig(dg.Config):
    """Per-run overrides of the trainer resource's SFTConfig (empty/0 = the resource's value) and an optional data slice."""

    base_model: str = ""
    lora_rank: int = 0
    max_steps: int = 0
    corpus_path: str = ""


class TaskAdapterConfig(dg.Config):
    """Which role adapter the task adapter stacks on (trained with it active and frozen)."""

    role: str = "polecat"


def _chat_only(rows: list[dict]) -> list[dict]:
    return [{"messages": r["messages"]} if r.get("messages") else {"text": r.get("text") or ""} for r in rows]


def _slice_rows(corpus_path: str) -> tuple[list[dict], list[dict]]:
    """``(train, val)`` of a ``node0-corpus export`` slice; ``dg.Failure`` naming bad lines."""
    from node0_ops.train.data import DataError, read_slice

    try:
        return read_slice(corpus_path, "sft")
    except DataError as exc:
        raise dg.Failure(description=f"corpus_path: {exc}") from None


def _log_checkpoints(context: dg.AssetExecutionContext, db, res) -> list[dict]:
    """One ``AssetObservation`` of the training asset per checkpoint the run kept (step, train loss at
    that step, val loss when measured there, path), so checkpoints show in the UI beside the adapter;
    returns them as ``[{"step", "path", "train_loss"?, "val_loss"?}]``."""
    from node0_ops.train.checkpoint import list_checkpoints

    ckpts = list_checkpoints(res.run_dir) if res.run_dir else []
    if not ckpts:
        return []
    from node0_ops.train.tracking import run_metrics

    by_step = {r["step"]: r for r in run_metrics(db, res.run_id)}
    out = []
    for ck in ckpts:
        step = int(ck.name.split("-", 1)[1])
        info = {"step": step, "path": str(ck)}
        for key in ("loss", "val_loss"):
            if isinstance((by_step.get(step) or {}).get(key), float):
                info["train_loss" if key == "loss" else key] = by_step[step][key]
        md = {"run_id": res.run_id, "checkpoint": dg.MetadataValue.path(str(ck)),
              **{k: v for k, v in info.items() if k != "path"}}
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=context.partition_key,
                                              description=f"checkpoint at step {step}", metadata=md))
        out.append(info)
    return out


def _result_metadata(res, version: str) -> dict:
    md = {"run_id": res.run_id, "corpus_version": version, "adapter_dir": dg.MetadataValue.path(res.adapter_dir),
          "metrics": dg.MetadataValue.json(res.metrics)}
    for key in ("train_loss", "val_loss", "tokens_per_s", "val_loss_before", "train_seconds"):
        if isinstance(res.metrics.get(key), (int, float)):
            md[key] = float(res.metrics[key])
    if isinstance(res.metrics.get("steps"), int):
        md["steps"] = res.metrics["steps"]
    if res.loss_curve_png and Path(res.loss_curve_png).exists():
        b64 = base64.b64encode(Path(res.loss_curve_png).read_bytes()).decode()
        md["loss_curve"] = dg.MetadataValue.md(f"![loss curve](data:image/png;base64,{b64})")
        md["loss_curve_path"] = dg.MetadataValue.path(res.loss_curve_png)
    return md


MAX_VAL_EXAMPLES = 64  # one validation pass over 490 rows cost ~2 min of a 2-core `make run`


def _role_mixture(db, version: str, role: str, trainer: TrainerResource):
    """``(train, val, MixtureReport)``: the role's own rows up-weighted plus every role's town-core rows."""
    from node0_ops.train.mixture_config import build_mixture

    cfg = trainer.mixture_config()
    train, report = build_mixture(store.load_examples(db, version, split="train"), role, cfg)
    flat = type(cfg)(**{**cfg.to_dict(), "role_weight": 1.0, "core_weight": 1.0, "task_weights": {}, "max_examples": 0})
    val, _ = build_mixture(store.load_examples(db, version, split="val"), role, flat)
    return train, val[:MAX_VAL_EXAMPLES], report


@dg.asset(group_name=GROUP, partitions_def=role_partitions, pool=POOL, kinds={"pytorch", "peft"})
def role_adapter(context: dg.AssetExecutionContext, config: RoleAdapterConfig, lineage: LineageResource,
                 trainer: TrainerResource, town: TownResource, corpus_version: CorpusVersionHandle) -> dg.MaterializeResult:
    """LoRA adapter trained (SFT) on one role's corpus partitions."""
    role = context.partition_key
    db = lineage.db()
    version = corpus_version.corpus_version
    trainer = trainer.with_overrides(sft={"base": config.base_model, "lora.r": config.lora_rank,
                                          "lora.lora_alpha": 2 * config.lora_rank, "max_steps": config.max_steps})
    if config.corpus_path:
        train, val = _slice_rows(config.corpus_path)
        mixture = None
    else:
        train, val, mixture = _role_mixture(db, version, role, trainer)
    if len(train) < MIN_TRAIN_EXAMPLES:
        raise dg.Failure(description=f"role {role} has {len(train)} training examples (< {MIN_TRAIN_EXAMPLES}); add sessions/conventions for it",
                         metadata={"corpus_version": version, "n_train": len(train)})
    out = lineage.artifacts("adapters") / f"role-{role}" / f"{version}-{trainer.fingerprint()}"
    # the training job follows the bead lifecycle: bd create -> in_progress -> phase notes here and in
    # export/eval -> bd close with the registry ref when the gate passes, or blocked with the gate's
    # reasons (registry_entry_eval_threshold); real `bd` when on PATH, else recorded for replay
    with training_job(context, lineage, town, kind="role", title=f"Train {role} role model (LoRA SFT)",
                      subject=f"role:{role}:{version}", version=None if config.corpus_path else version,
                      description=f"node0 role adapter for {role} on corpus {version}") as job:
        job.phase("prepare", corpus_version=version, n_train=len(train), n_val=len(val))
        run_meta = {"role": role, "corpus_version": version, "state": str(lineage.state())}
        if mixture is not None:
            run_meta["extra"] = {"mixture": mixture.to_dict()}
        res = trainer.train("role", _chat_only(train), _chat_only(val), out, db_path=str(db.path),
                            run_meta=run_meta, log=context.log)
        ckpts = _log_checkpoints(context, db, res)
        note_checkpoints(job, ckpts)
        job.phase("train", run_id=res.run_id, train_loss=float(res.metrics.get("train_loss") or 0.0))
    md = {"role": role, "n_train": len(train), "n_val": len(val), **_result_metadata(res, version), "checkpoints": len(ckpts),
          "job_id": job.job_id, "job_bead": job.bead_id or f"${job.var}"}
    if mixture is not None:
        md["mixture_counts"] = dg.MetadataValue.json(mixture.counts)
        md["mixture_distinct"] = dg.MetadataValue.json(mixture.distinct)
        md["mixture_config"] = dg.MetadataValue.json(mixture.config)
    return dg.MaterializeResult(metadata=md, value=AdapterHandle(str(res.adapter_dir), res.run_id, version))


def _register_stacked(lineage: LineageResource, res, kind: str, role_dir: str, job) -> str:
    """Register a task or DPO adapter (compatible with the models whose stack has its role adapter) and
    close its job bead with the registry ref; a failed registration blocks the bead and raises."""
    from node0_ops.registry import store as reg
    from node0_ops.registry.schema import registry_db

    db = registry_db(lineage.state())
    try:
        ref = reg.register_adapter(db, res.adapter_dir, kind=kind, run_id=res.run_id,
                                   compatible_models=reg.models_with_adapter(db, role_dir))
    except (OSError, ValueError) as exc:
        job.fail(f"adapter registry: {type(exc).__name__}: {exc}"[:300])
        raise dg.Failure(description=f"trained {kind} adapter {res.adapter_dir} could not be registered: {exc}",
                         metadata={"adapter_dir": str(res.adapter_dir), "job_id": job.job_id}) from exc
    job.close(f"registered {ref} (adapter registry)")
    return ref


@dg.asset(group_name=GROUP, deps=[role_adapter], partitions_def=task_partitions, pool=POOL, kinds={"pytorch", "peft"})
def task_adapter(context: dg.AssetExecutionContext, config: TaskAdapterConfig, lineage: LineageResource,
                 trainer: TrainerResource, town: TownResource) -> dg.MaterializeResult:
    """Stackable LoRA adapter for one task, trained on top of a frozen role adapter."""
    task = context.partition_key
    db = lineage.db()
    # the role is run config, not a partition mapping Dagster can express: the role adapter's latest
    # materialization of that role names the adapter and the corpus version it was trained on
    role_dir = upstream_handle(context, "role_adapter", "adapter_dir", config.role)
    version = upstream_handle(context, "role_adapter", "corpus_version", config.role)
    train = store.load_examples(db, version, task=task, split="train")
    val = store.load_examples(db, version, task=task, split="val")
    if len(train) < MIN_TRAIN_EXAMPLES:
        raise dg.Failure(description=f"task {task} has {len(train)} training examples (< {MIN_TRAIN_EXAMPLES})",
                         metadata={"corpus_version": version})
    out = lineage.artifacts("adapters") / f"task-{task}" / f"{config.role}-{version}-{trainer.fingerprint()}"
    with training_job(context, lineage, town, kind="task", title=f"Train {task} task adapter on {config.role} (LoRA SFT)",
                      subject=f"task:{task}:{version}", version=version,
                      description=f"node0 task adapter {task}, stacked on role adapter {role_dir}, corpus {version}") as job:
        job.phase("prepare", corpus_version=version, n_train=len(train), n_val=len(val))
        res = trainer.train("task", _chat_only(train), _chat_only(val), out, db_path=str(db.path), role_adapter_dir=role_dir,
                            run_meta={"role": config.role, "task": task, "corpus_version": version,
                                      "state": str(lineage.state())}, log=context.log)
        ckpts = _log_checkpoints(context, db, res)
        note_checkpoints(job, ckpts)
        job.phase("train", run_id=res.run_id, train_loss=float(res.metrics.get("train_loss") or 0.0))
    ref = _register_stacked(lineage, res, "task", role_dir, job)
    return dg.MaterializeResult(metadata={"task": task, "role": config.role, "role_adapter": dg.MetadataValue.path(role_dir),
                                          "n_train": len(train), **_result_metadata(res, version), "checkpoints": len(ckpts),
                                          "adapter": ref, "job_id": job.job_id, "job_bead": job.bead_id or f"${job.var}"},
                                value=AdapterHandle(str(res.adapter_dir), res.run_id, version, config.role, role_dir))


@dg.asset(group_name=GROUP, partitions_def=role_partitions, pool=POOL, kinds={"pytorch", "peft"})
def dpo_adapter(context: dg.AssetExecutionContext, lineage: LineageResource, trainer: TrainerResource,
                town: TownResource, role_adapter: AdapterHandle, dpo_pairs: DpoPairsHandle) -> dg.MaterializeResult:
    """Role adapter refined with DPO on the role's preference pairs (reference = adapter disabled)."""
    role = context.partition_key
    db = lineage.db()
    version = role_adapter.corpus_version   # the pairs of the corpus the role adapter was trained on
    role_dir = role_adapter.adapter_dir
    if dpo_pairs.corpus_version != version:
        raise dg.Failure(description=f"dpo_pairs[{role}] holds corpus {dpo_pairs.corpus_version} but role_adapter[{role}] "
                                     f"was trained on {version}: materialize dpo_pairs and role_adapter from one corpus "
                                     "version (dagster job launch -j dpo_job)",
                         metadata={"dpo_pairs_corpus": dpo_pairs.corpus_version, "role_adapter_corpus": version})
    train = store.load_pairs(db, version, role=role, split="train")
    val = store.load_pairs(db, version, role=role, split="val") or store.load_pairs(db, version, role=role, split="test")
    if not train:
        raise dg.Failure(description=f"role {role} has no DPO pairs in corpus {version}", metadata={"corpus_version": version})
    pairs = lambda rows: [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]  # noqa: E731
    out = lineage.artifacts("adapters") / f"dpo-{role}" / f"{version}-{trainer.fingerprint()}"
    with training_job(context, lineage, town, kind="dpo", title=f"Train {role} role model (DPO)",
                      subject=f"dpo:{role}:{version}", version=version,
                      description=f"node0 DPO stage on role adapter {role_dir}, {len(train)} preference pairs, corpus {version}") as job:
        job.phase("prepare", corpus_version=version, n_pairs=len(train), n_val_pairs=len(val))
        res = trainer.train("dpo", pairs(train), pairs(val), out, db_path=str(db.path), role_adapter_dir=role_dir,
                            run_meta={"role": role, "corpus_version": version, "state": str(lineage.state())},
                            log=context.log)
        ckpts = _log_checkpoints(context, db, res)
        note_checkpoints(job, ckpts)
        job.phase("train", run_id=res.run_id, train_loss=float(res.metrics.get("train_loss") or 0.0))
    ref = _register_stacked(lineage, res, "dpo", role_dir, job)
    return dg.MaterializeResult(metadata={"role": role, "role_adapter": dg.MetadataValue.path(role_dir),
                                          "n_pairs": len(train), **_result_metadata(res, version),
                                          "checkpoints": len(ckpts), "adapter": ref, "job_id": job.job_id,
                                          "job_bead": job.bead_id or f"${job.var}"},
                                value=AdapterHandle(str(res.adapter_dir), res.run_id, version, role, role_dir))
