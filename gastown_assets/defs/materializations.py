"""Handles between stages: the metadata Dagster recorded for an upstream asset (partition) or the asset under check."""

import dagster as dg


def materialization_metadata(context, key: dg.AssetKey, partition: str | None = None) -> dict:
    """Metadata values of the latest materialization of ``key`` (of ``partition`` when given), from
    Dagster's event log, not from a lineage table; ``{}`` when it was never materialized."""
    flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    records = context.instance.fetch_materializations(flt, limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def checked_corpus_version(context) -> str:
    """The corpus version the ``corpus_version`` materialization under check produced.

    Raises:
        dg.Failure: ``corpus_version`` has no materialization with a ``corpus_version`` value.
    """
    return upstream_handle(context, "corpus_version", "corpus_version")


def upstream_handle(context, key: str, field: str, partition: str | None = None) -> str:
    """The handle ``field`` (corpus version, adapter dir, export dir, report id, model ref) that the
    latest materialization of upstream asset ``key`` (its ``partition``) recorded in Dagster's event
    log: each stage takes its own partition's input from the graph, never a table's newest row.

    Raises:
        dg.Failure: that upstream partition was never materialized (or recorded no ``field``).
    """
    value = materialization_metadata(context, dg.AssetKey(key), partition).get(field)
    if value in (None, ""):
        where = f"{key}[{partition}]" if partition else key
        raise dg.Failure(description=f"{where} has no materialization with a {field}: materialize {where} first",
                         metadata={"upstream": where, "field": field})
    return str(value)
