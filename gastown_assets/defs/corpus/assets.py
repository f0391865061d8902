"""Corpus assets: collect -> scrub -> format (SFT, DPO) -> version -> role x task partitions."""

import json

import dagster as dg

from gastown_assets.defs.corpus.partitions import role_partitions, role_task_partitions
from gastown_assets.defs.job_beads import collection_job
from gastown_assets.defs.handles import CollectionHandle, CorpusVersionHandle, DpoPairsHandle
from node0_ops.corpus import pipeline, store
from resources import LineageResource, ScrubberResource, TownResource

GROUP = "corpus"


def _table_md(counts: dict[tuple[str, str], int], rows: list[str], cols: list[str]) -> str:
    head = "| role | " + " | ".join(cols) + " | total |\n|---" * 1 + "|---" * (len(cols) + 1) + "|\n"
    body = ""
    for r in rows:
        vals = [counts.get((r, c), 0) for c in cols]
        body += f"| {r} | " + " | ".join(str(v) for v in vals) + f" | {sum(vals)} |\n"
    return head + body


@dg.asset(group_name=GROUP, kinds={"duckdb", "python"})
def collected_records(context: dg.AssetExecutionContext, town: TownResource, lineage: LineageResource) -> dg.MaterializeResult:
    """Every source record of the town (transcripts, conventions, formulas, beads, events, settings) with provenance."""
    root = town.root_path()
    summary = pipeline.collect_stage(lineage.db(), root, town.extra_paths(), town.transcript_paths())
    if summary["n_records"] == 0:
        raise dg.Failure(description=f"no records collected from {root}: is it a Gas Town root (CLAUDE.md, .beads/, settings/)?",
                         metadata={"town_root": str(root), "n_quarantined": summary["n_quarantined"]})
    context.log.info(f"collected {summary['n_records']} records, {summary['n_quarantined']} quarantined")
    return dg.MaterializeResult(metadata={
        "town_root": str(root), "n_sources": summary["n_sources"], "n_records": summary["n_records"],
        "n_quarantined": summary["n_quarantined"], "collection_id": summary["collection_id"],
        "records_by_kind": dg.MetadataValue.json(summary["records_by_kind"]),
        "quarantine_reasons": dg.MetadataValue.json(summary.get("quarantine_reasons", {})),
    }, value=CollectionHandle(summary["collection_id"]))


@dg.asset(group_name=GROUP, deps=[collected_records], kinds={"duckdb", "presidio"})
def scrubbed_records(context: dg.AssetExecutionContext, lineage: LineageResource, scrubber: ScrubberResource) -> dg.MaterializeResult:
    """Current records with secrets and PII replaced by typed placeholders; redactions logged (never the secret)."""
    summary = pipeline.scrub_stage(lineage.db(), scrubber.build())
    return dg.MaterializeResult(metadata={
        "n_scrubbed_now": summary["n_scrubbed_now"], "n_current": summary["n_current"],
        "redactions_by_entity": dg.MetadataValue.json(summary["redactions_by_entity"]),
        "seconds": summary["seconds"],
    })


@dg.asset(group_name=GROUP, deps=[scrubbed_records, dg.AssetKey("session_records")], kinds={"duckdb", "python"},
          automation_condition=dg.AutomationCondition.eager())
def corpus_version(context: dg.AssetExecutionContext, lineage: LineageResource, town: TownResource) -> dg.MaterializeResult:
    """Role/task-tagged SFT examples and DPO pairs, deduplicated and split by source, as one content-hashed version."""
    summary = pipeline.format_stage(lineage.db(), town_root=str(town.root_path()), out_dir=lineage.artifacts("corpus"))
    if summary["n_examples"] == 0:
        raise dg.Failure(description="the corpus is empty: no source produced an example",
                         metadata={"records_by_kind": dg.MetadataValue.json(summary.get("records_by_kind", {}))})
    bead = collection_job(context, lineage, town, summary["corpus_version"], summary)
    cells = {tuple(k.split("/")): v for k, v in summary["by_role_task"].items()}
    roles = sorted({r for r, _ in cells})
    tasks = sorted({t for _, t in cells})
    return dg.MaterializeResult(
        metadata={
            "corpus_version": summary["corpus_version"],
            "n_examples": summary["n_examples"], "n_dpo_pairs": summary["n_pairs"],
            "by_split": dg.MetadataValue.json(summary["by_split"]),
            "dpo_by_failure_mode": dg.MetadataValue.json(summary["pairs_by_failure_mode"]),
            "duplicates_removed": summary["n_duplicates"], "n_flags": summary["n_flags"],
            "role_x_task": dg.MetadataValue.md(_table_md(cells, roles, tasks)),
            "export_dir": dg.MetadataValue.path(summary["export_dir"]), **bead,
        },
        data_version=dg.DataVersion(summary["corpus_version"]),
        value=CorpusVersionHandle(summary["corpus_version"]),
    )


@dg.asset(group_name=GROUP, partitions_def=role_task_partitions, kinds={"jsonl"})
def corpus_partition(context: dg.AssetExecutionContext, lineage: LineageResource,
                     corpus_version: CorpusVersionHandle) -> dg.MaterializeResult:
    """One role x task slice of the materialized corpus version, exported as TRL-ready JSONL per split."""
    keys = context.partition_key.keys_by_dimension
    role, task = keys["role"], keys["task"]
    db = lineage.db()
    version = corpus_version.corpus_version
    out = lineage.artifacts("corpus") / version / "partitions" / f"{role}__{task}"
    counts = pipeline.export_slice(db, version, out, role=role, task=task)
    return dg.MaterializeResult(metadata={
        "corpus_version": version, "role": role, "task": task, "path": dg.MetadataValue.path(str(out)),
        **{f"n_{k}": v for k, v in sorted(counts.items())},
    })


@dg.asset(group_name=GROUP, partitions_def=role_partitions, kinds={"jsonl"})
def dpo_pairs(context: dg.AssetExecutionContext, lineage: LineageResource,
              corpus_version: CorpusVersionHandle) -> dg.MaterializeResult:
    """One role's DPO preference pairs (prompt, chosen, rejected) of the corpus version, as TRL-ready JSONL per split."""
    role = context.partition_key
    version = corpus_version.corpus_version
    rows = store.load_pairs(lineage.db(), version, role=role)
    if not rows:
        raise dg.Failure(description=f"role {role} has no DPO pairs in corpus {version}: add failure-mode sources "
                                     "(rejected commands, reverted sessions) or train SFT only",
                         metadata={"corpus_version": version, "role": role})
    out = lineage.artifacts("corpus") / version / "dpo" / role
    out.mkdir(parents=True, exist_ok=True)
    by_split: dict[str, int] = {}
    for split in ("train", "val", "test"):
        keep = [r for r in rows if r["split"] == split]
        by_split[split] = len(keep)
        (out / f"{split}.jsonl").write_text("".join(json.dumps(
            {"pair_id": r["pair_id"], "prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}) + "\n"
            for r in keep), encoding="utf-8")
    modes: dict[str, int] = {}
    for r in rows:
        modes[r["failure_mode"] or "-"] = modes.get(r["failure_mode"] or "-", 0) + 1
    first = rows[0]
    return dg.MaterializeResult(metadata={
        "corpus_version": version, "role": role, "n_pairs": len(rows), "path": dg.MetadataValue.path(str(out)),
        **{f"n_{k}": v for k, v in by_split.items()},
        "by_failure_mode": dg.MetadataValue.json(modes),
        "sample": dg.MetadataValue.md(f"**{first['pair_id']}** ({first['failure_mode'] or '-'})\n\n"
                                      f"chosen: `{first['chosen'][:200]}`\n\nrejected: `{first['rejected'][:200]}`"),
    }, value=DpoPairsHandle(version, role))
