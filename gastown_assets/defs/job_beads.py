"""Jobs as beads in the Dagster layer: the corpus-collection bead, training-job beads that depend on it,
and the role job resumed by later stages (export, eval gate). Bead bookkeeping never fails an asset:
a ``bd`` failure is logged and the commands stay recorded for replay (``node0_ops.registry.beads``)."""

import dagster as dg

from gastown_assets.defs.materializations import materialization_metadata
from resources import LineageResource, TownResource


def _db(lineage: LineageResource):
    from node0_ops.registry.schema import registry_db

    return registry_db(lineage.state())


def collection_job(context: dg.AssetExecutionContext, lineage: LineageResource, town: TownResource,
                   version: str, summary: dict) -> dict:
    """Metadata of the corpus-collection job of ``version`` (created and closed the first time it is seen)."""
    from node0_ops.corpus.store import current_source_counts
    from node0_ops.registry.beads import bead_of, corpus_job, job_var

    try:
        sources = current_source_counts(lineage.db())
        text = (f"{summary.get('n_examples', 0)} SFT examples, {summary.get('n_pairs', 0)} DPO pairs from "
                f"{sum(sources.values())} source files ({sources.get('transcript', 0)} session transcripts)")
        job_id, created = corpus_job(_db(lineage), version, summary=text, cwd=town.root_path(), echo=context.log.info)
        bead = bead_of(_db(lineage), job_id)
    except Exception as exc:  # noqa: BLE001 - bookkeeping never fails the corpus
        context.log.warning(f"corpus-collection bead not written: {type(exc).__name__}: {exc}")
        return {}
    return {"collection_job_id": job_id, "collection_bead": bead or f"${job_var(job_id)}",
            "collection_bead_created": created}


def training_job(context: dg.AssetExecutionContext, lineage: LineageResource, town: TownResource, *, kind: str,
                 title: str, subject: str, version: str | None, description: str):
    """A started ``TrainingJob`` (kind ``role``/``task``/``dpo``) whose bead depends on the corpus-collection
    bead of ``version`` when that version has one. Leaving its ``with`` block does not close it."""
    from node0_ops.registry.beads import TrainingJob, find_job

    db = _db(lineage)
    depends = find_job(db, "corpus", version) if version else None
    return TrainingJob(db, title, description=description, cwd=town.root_path(), echo=context.log.info,
                       keep_open=True, kind=kind, subject=subject, depends_on=depends)


def note_checkpoints(job, checkpoints: list[dict]) -> None:
    """One ``phase: checkpoint`` note per kept checkpoint (step, losses)."""
    for ck in checkpoints:
        job.phase("checkpoint", **{k: ck[k] for k in ("step", "train_loss", "val_loss") if k in ck})


def role_job(context, lineage: LineageResource, role: str, adapter_dir: str):
    """The training job of the ``role_adapter[role]`` materialization that produced ``adapter_dir``
    (from Dagster's event log), resumed; None when that materialization has no job or another adapter."""
    from node0_ops.registry.beads import TrainingJob

    md = materialization_metadata(context, dg.AssetKey("role_adapter"), role)
    job_id = md.get("job_id")
    if not job_id or str(md.get("adapter_dir")) != str(adapter_dir):
        return None
    return TrainingJob.resume(_db(lineage), job_id, echo=context.log.info)
