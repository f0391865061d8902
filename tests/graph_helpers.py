"""Materializing one stage of the graph alone in a test: its upstream assets as source specs (with their
partitions) and the handle IO manager that loads their latest materialization, as the code location does."""

import dagster as dg

from resources.handles import HandleIOManager


def sources(*names: str) -> list[dg.AssetSpec]:
    """Source ``AssetSpec``s of the code location's assets ``names`` (same partitions definitions)."""
    from gastown_assets.definitions import defs

    graph = defs.get_repository_def().asset_graph
    return [dg.AssetSpec(n, partitions_def=graph.get(dg.AssetKey(n)).partitions_def) for n in names]


def with_io(resources: dict) -> dict:
    """``resources`` plus the handle IO manager the code location uses."""
    return {"io_manager": HandleIOManager(), **resources}
