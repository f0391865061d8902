"""Intake checks: the corpus holds convention files the drift sensor flagged as reverted (warn)."""

import dagster as dg

from gastown_assets.defs.corpus.assets import corpus_version
from gastown_assets.defs.handles import CorpusVersionHandle
from node0_ops.corpus import store
from node0_ops.drift.decisions import flagged_reversions
from resources import LineageResource


@dg.asset_check(asset=corpus_version)
def corpus_version_reverted_conventions(context: dg.AssetCheckExecutionContext, corpus_version: CorpusVersionHandle,
                                        lineage: LineageResource) -> dg.AssetCheckResult:
    """Warn when the checked corpus version contains a convention file's reverted content (review before training)."""
    db = lineage.db()
    version = corpus_version.corpus_version
    hashes = store.source_hashes(db, version)
    flagged = flagged_reversions(db)
    held = [r for r in flagged if hashes.get(r["path"]) == r["sha256"]]
    return dg.AssetCheckResult(passed=not held, severity=dg.AssetCheckSeverity.WARN, metadata={
        "corpus_version": version, "n_reverted": len(held), "n_flagged_total": len(flagged),
        "reverted": dg.MetadataValue.json([{"path": r.get("rel", r["path"]), "detail": r.get("detail", ""),
                                            "flagged_at": str(r["ts"])[:19]} for r in held[:50]])})


CHECKS = [corpus_version_reverted_conventions]
