"""Intake assets: one new session transcript at a time, added to the current corpus snapshot and scrubbed."""

from pathlib import Path

import dagster as dg

from gastown_assets.defs.intake.partitions import session_partitions
from node0_ops.corpus import store
from node0_ops.drift import sessions
from resources import LineageResource, ScrubberResource, TownResource

GROUP = "intake"


@dg.asset(group_name=GROUP, partitions_def=session_partitions, kinds={"duckdb", "presidio"})
def session_records(context: dg.AssetExecutionContext, town: TownResource, lineage: LineageResource,
                    scrubber: ScrubberResource) -> dg.MaterializeResult:
    """Records of one Claude Code session file, collected (scope ``session``) and scrubbed."""
    from node0_ops.corpus.collect import collect_paths

    key = context.partition_key
    db = lineage.db()
    try:
        path = Path(sessions.session_path(db, key))
    except KeyError as exc:
        raise dg.Failure(description=str(exc), metadata={"session_key": key}) from None
    if not path.is_file():
        raise dg.Failure(description=f"session file {path} of partition {key} is gone (moved or deleted)",
                         metadata={"session_key": key, "path": str(path)})
    root = town.root_path()
    result = collect_paths([], transcript_dirs=[path], town_root=root)
    reasons = sorted({q.reason.split(":")[0] for q in result.quarantine})
    if not result.records:
        raise dg.Failure(description=f"session file {path}: no readable entry ({len(result.quarantine)} quarantined: "
                                     f"{', '.join(reasons) or 'empty file'})",
                         metadata={"session_key": key, "path": str(path), "n_quarantined": len(result.quarantine)})
    summary = store.save_collection(db, result, town_root=str(root), scope="session")
    sha = result.sources[0].sha256 if result.sources else ""
    scrub = scrubber.build()
    scrubbed, redactions = [], []
    for rec in store.unscrubbed_records(db, str(path), sha):
        new, reds = scrub.scrub_record(rec)
        scrubbed.append(new)
        redactions.extend(reds)
    store.save_scrubbed(db, scrubbed, redactions)
    sessions.mark_collected(db, key, sha, len(result.records), len(result.quarantine))
    by_entity: dict[str, int] = {}
    for r in redactions:
        by_entity[r.entity_type] = by_entity.get(r.entity_type, 0) + r.count
    rec = result.records[0]
    context.log.info(f"session {key}: {len(result.records)} record(s), {len(result.quarantine)} quarantined, "
                     f"{len(scrubbed)} scrubbed now")
    return dg.MaterializeResult(metadata={
        "session_key": key, "path": dg.MetadataValue.path(str(path)), "sha256": sha,
        "role": rec.provenance.role or "", "rig": rec.provenance.rig or "",
        "n_records": len(result.records), "n_quarantined": len(result.quarantine),
        "quarantine_reasons": dg.MetadataValue.json(reasons), "n_scrubbed_now": len(scrubbed),
        "redactions_by_entity": dg.MetadataValue.json(by_entity), "collection_id": summary["collection_id"],
    }, data_version=dg.DataVersion(sha[:16]) if sha else None)


ASSETS = [session_records]
