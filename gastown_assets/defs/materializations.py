"""What an asset check checks: metadata of the materialization Dagster recorded for its asset."""

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
    version = materialization_metadata(context, dg.AssetKey("corpus_version")).get("corpus_version")
    if not version:
        raise dg.Failure(description="corpus_version has no materialization to check: materialize it first",
                         metadata={"asset": "corpus_version"})
    return str(version)
