"""Serving assets: the town's RAG index (chroma) and the compact-prime size report per role."""

import dagster as dg

from gastown_assets.defs.corpus.assets import collected_records
from gastown_assets.defs.corpus.partitions import role_partitions
from resources import LineageResource, TownResource

GROUP = "serving"


@dg.asset(group_name=GROUP, deps=[collected_records], kinds={"chromadb"})
def rag_index(lineage: LineageResource, town: TownResource) -> dg.MaterializeResult:
    """Chroma index of the town's beads, formulas, settings, CLAUDE.md and session summaries (refreshed by content hash)."""
    from node0_ops.serve.rag import rag_index_refresh

    counts = rag_index_refresh(lineage.state(), town.root_path())
    return dg.MaterializeResult(metadata={k: v for k, v in counts.items() if isinstance(v, (int, float, str))})


@dg.asset(group_name=GROUP, deps=[rag_index], partitions_def=role_partitions, kinds={"python"})
def prime_report(context: dg.AssetExecutionContext, lineage: LineageResource, town: TownResource) -> dg.MaterializeResult:
    """Size of the role's compact context (role card + retrieved chunks) vs the full gt prime context."""
    from node0_ops.serve.prime import prime_report as make_report

    rep = make_report(town.root_path(), context.partition_key, state=lineage.state())
    return dg.MaterializeResult(metadata={
        "role": context.partition_key, "full_tokens": rep["full"]["tokens"], "compact_tokens": rep["compact"]["tokens"],
        "full_bytes": rep["full"]["bytes"], "compact_bytes": rep["compact"]["bytes"],
        "token_ratio": float(rep["token_ratio"])})
