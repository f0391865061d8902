"""Handles between stages where Dagster cannot map the partition: the task adapter stacks on the role
adapter of the role its run config names, so it reads that partition's latest materialization (the
other stages take typed handle inputs, :mod:`gastown_assets.defs.handles`)."""

import dagster as dg

from resources.handles import latest_metadata


def materialization_metadata(context, key: dg.AssetKey, partition: str | None = None) -> dict:
    """Metadata values of the latest materialization of ``key`` (of ``partition`` when given), from
    Dagster's event log, not from a lineage table; ``{}`` when it was never materialized."""
    return latest_metadata(context.instance, key, partition)


def upstream_handle(context, key: str, field: str, partition: str | None = None) -> str:
    """The handle ``field`` (adapter dir, corpus version) that the latest materialization of upstream
    asset ``key`` (its ``partition``) recorded in Dagster's event log.

    Raises:
        dg.Failure: that upstream partition was never materialized (or recorded no ``field``).
    """
    value = materialization_metadata(context, dg.AssetKey(key), partition).get(field)
    if value in (None, ""):
        where = f"{key}[{partition}]" if partition else key
        raise dg.Failure(description=f"{where} has no materialization with a {field}: materialize {where} first",
                         metadata={"upstream": where, "field": field})
    return str(value)
