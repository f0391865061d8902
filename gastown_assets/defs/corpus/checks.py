"""Corpus asset checks: secrets re-scan, split leakage, Great Expectations suite (blocking); coverage and flags (warn)."""

import dagster as dg

from gastown_assets.defs.corpus.assets import collected_records, corpus_version, scrubbed_records
from gastown_assets.defs.handles import CollectionHandle, CorpusVersionHandle
from node0_ops.corpus import store
from node0_ops.corpus.schema import ROLES, TASKS
from resources import LineageResource, ScrubberResource

MIN_EXAMPLES_PER_ROLE = 5


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _hits_table(hits: list[tuple[str, str]]) -> dict:
    by_type: dict[str, int] = {}
    for _, ent in hits:
        by_type[ent] = by_type.get(ent, 0) + 1
    return by_type


@dg.asset_check(asset=scrubbed_records, blocking=True)
def scrubbed_records_no_secrets(lineage: LineageResource, scrubber: ScrubberResource) -> dg.AssetCheckResult:
    """Re-scan every scrubbed record with the scrubber's rules; any finding fails (blocks downstream)."""
    scan = scrubber.build().scan
    hits = []
    for rec in store.load_current_records(lineage.db(), scrubbed=True):
        for text in _strings(rec.payload):
            hits += [(rec.record_id, f.entity_type) for f in scan(text)]
    return dg.AssetCheckResult(passed=not hits, metadata={
        "n_findings": len(hits), "findings_by_entity": dg.MetadataValue.json(_hits_table(hits)),
        "records_with_findings": dg.MetadataValue.json(sorted({r for r, _ in hits})[:50])})


@dg.asset_check(asset=corpus_version, blocking=True)
def corpus_version_no_secrets(context: dg.AssetCheckExecutionContext, corpus_version: CorpusVersionHandle, lineage: LineageResource, scrubber: ScrubberResource) -> dg.AssetCheckResult:
    """Re-scan every example and DPO pair of the checked corpus version; any finding fails."""
    db = lineage.db()
    version = corpus_version.corpus_version
    scan = scrubber.build().scan
    hits = []
    for ex in store.load_examples(db, version):
        hits += [(ex["example_id"], f.entity_type) for t in _strings([ex["messages"], ex["text"]]) for f in scan(t)]
    for p in store.load_pairs(db, version):
        hits += [(p["pair_id"], f.entity_type) for t in _strings([p["prompt"], p["chosen"], p["rejected"]]) for f in scan(t)]
    return dg.AssetCheckResult(passed=not hits, metadata={
        "corpus_version": version, "n_findings": len(hits),
        "findings_by_entity": dg.MetadataValue.json(_hits_table(hits)),
        "items_with_findings": dg.MetadataValue.json(sorted({i for i, _ in hits})[:50])})


@dg.asset_check(asset=corpus_version, blocking=True)
def corpus_version_split_isolation(context: dg.AssetCheckExecutionContext, corpus_version: CorpusVersionHandle, lineage: LineageResource) -> dg.AssetCheckResult:
    """No source (session, bead, formula, file) appears in more than one split."""
    version = corpus_version.corpus_version
    leaks = store.leaking_sources(lineage.db(), version)
    return dg.AssetCheckResult(passed=not leaks, metadata={
        "corpus_version": version, "n_leaking_sources": len(leaks),
        "leaks": dg.MetadataValue.json([{"source_key": r["source_key"], "splits": list(r["splits"])} for r in leaks[:50]])})


@dg.asset_check(asset=corpus_version, blocking=True)
def corpus_version_expectations(context: dg.AssetCheckExecutionContext, corpus_version: CorpusVersionHandle, lineage: LineageResource) -> dg.AssetCheckResult:
    """Great Expectations suites on the version's examples and DPO pairs, and on redactions and quarantine."""
    from node0_ops.corpus.expectations import validate_corpus

    version = corpus_version.corpus_version
    report = validate_corpus(lineage.db(), version)
    table = "| table | column | expectation | ok | failing rows |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {o.table} | {o.column} | {o.expectation} | {'yes' if o.success else 'NO'} | {o.unexpected_count}/{o.n_rows} |"
        for o in report.outcomes)
    return dg.AssetCheckResult(passed=report.success, metadata={
        "corpus_version": version, "n_expectations": len(report.outcomes), "n_failed": len(report.failed()),
        "expectations": dg.MetadataValue.md(table),
        "failures": dg.MetadataValue.json([o.describe() for o in report.failed()])})


@dg.asset_check(asset=corpus_version)
def corpus_version_role_coverage(context: dg.AssetCheckExecutionContext, corpus_version: CorpusVersionHandle, lineage: LineageResource) -> dg.AssetCheckResult:
    """Warn when a role or task has fewer than MIN_EXAMPLES_PER_ROLE training examples."""
    db = lineage.db()
    version = corpus_version.corpus_version
    rows = store.load_examples(db, version, split="train")
    by_role = {r: sum(1 for e in rows if e["role"] == r) for r in ROLES}
    by_task = {t: sum(1 for e in rows if e["task"] == t) for t in TASKS}
    gaps = [f"role {k}: {v}" for k, v in by_role.items() if v < MIN_EXAMPLES_PER_ROLE]
    gaps += [f"task {k}: {v}" for k, v in by_task.items() if v < MIN_EXAMPLES_PER_ROLE]
    return dg.AssetCheckResult(passed=not gaps, severity=dg.AssetCheckSeverity.WARN, metadata={
        "train_by_role": dg.MetadataValue.json(by_role), "train_by_task": dg.MetadataValue.json(by_task),
        "gaps": dg.MetadataValue.json(gaps)})


@dg.asset_check(asset=corpus_version)
def corpus_version_convention_flags(context: dg.AssetCheckExecutionContext, corpus_version: CorpusVersionHandle, lineage: LineageResource) -> dg.AssetCheckResult:
    """Warn on contradictions between convention sources and on reverted files (review before training)."""
    version = corpus_version.corpus_version
    flags = store.version_flags(lineage.db(), version)
    return dg.AssetCheckResult(passed=not flags, severity=dg.AssetCheckSeverity.WARN, metadata={
        "n_flags": len(flags), "flags": dg.MetadataValue.json(flags[:50])})


@dg.asset_check(asset=collected_records)
def collected_records_quarantine(lineage: LineageResource, collected_records: CollectionHandle) -> dg.AssetCheckResult:
    """Warn when the checked collection quarantined bad input (the run still completes with every good record)."""
    collection = collected_records.collection_id
    rows = store.collection_quarantine(lineage.db(), collection)
    return dg.AssetCheckResult(passed=not rows, severity=dg.AssetCheckSeverity.WARN, metadata={
        "collection_id": collection, "n_quarantined": len(rows), "sample": dg.MetadataValue.json(rows[:20])})
