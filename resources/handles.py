"""IO manager for the typed handles assets hand each other (corpus version id, adapter dir, export dir,
report id, model ref): content stays in DuckDB and files, the handle is a small frozen dataclass.

``handle_output`` records the handle as the materialization's ``handle`` metadata (JSON, shown in the
UI); ``load_input`` rebuilds the downstream input's annotated dataclass from the latest
materialization of the upstream asset *for that input's partition* in the state's Dagster event
log. So every stage gets its own partition's input from the graph, a runless materialization
(``node0-corpus import``, ``gt-model deploy``) is an input like any other, and no stage looks for
"the newest row" of a table.

Usage::

    @dataclass(frozen=True)
    class ExportHandle:
        export_dir: str

    @dg.asset(partitions_def=roles)
    def eval_report(exported_model: ExportHandle) -> dg.MaterializeResult: ...
    defs = dg.Definitions(..., resources={"io_manager": HandleIOManager()})
"""

import dataclasses

import dagster as dg


def latest_metadata(instance, key: dg.AssetKey, partition: str | None = None) -> dict:
    """Metadata values of the latest materialization of ``key`` (of ``partition`` when given) in the
    instance's event log; ``{}`` when it was never materialized."""
    flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(flt, limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def _partition(context: dg.InputContext) -> str:
    """The one upstream partition an input reads: the mapped partition, else the run's
    ``dagster/partition`` tag (a check launched on one partition of a partitioned asset).

    Raises:
        dg.Failure: neither names exactly one partition.
    """
    keys = list(context.asset_partition_keys)
    if len(keys) == 1:
        return keys[0]
    try:
        tag = context.step_context.run_tags.get("dagster/partition")
    except Exception:  # noqa: BLE001 - no step context (direct IO manager use): no run tag
        tag = None
    if tag in keys:
        return tag
    raise dg.Failure(description=f"input {context.name!r} reads one partition of {context.asset_key.to_user_string()}: "
                                 "run with a partition key (e.g. the role)", metadata={"partitions": len(keys)})


class HandleIOManager(dg.ConfigurableIOManager):
    """Stores handle dataclasses in materialization metadata and loads them back per partition.

    Raises (from ``load_input``):
        dg.Failure: the input is not annotated with a dataclass, or the upstream partition was never
            materialized with the handle's fields (the message names it and says what to materialize).
    """

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None or not context.has_asset_key:   # op outputs (the rollback job) are not handles
            return
        if not dataclasses.is_dataclass(obj):
            raise dg.Failure(description=f"{context.asset_key.to_user_string()} returned a {type(obj).__name__}; "
                                         "assets hand each other handle dataclasses (frozen, small: ids and paths)")
        context.add_output_metadata({"handle": dg.MetadataValue.json(
            {"type": type(obj).__name__, **dataclasses.asdict(obj)})})

    def load_input(self, context: dg.InputContext):
        key = context.asset_key
        tp = context.dagster_type.typing_type
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            raise dg.Failure(description=f"input {context.name!r} of {key.to_user_string()} must be annotated with "
                                         f"a handle dataclass, got {tp!r}")
        part = _partition(context) if context.has_asset_partitions else None
        md = latest_metadata(context.instance, key, part)
        fields = dataclasses.fields(tp)
        stored = md.get("handle") if isinstance(md.get("handle"), dict) else {}
        values = {f.name: stored.get(f.name, md.get(f.name)) for f in fields}  # plain keys: runless events (CLIs)
        optional = {f.name for f in fields if f.default is not dataclasses.MISSING}
        missing = [f for f, v in values.items() if v in (None, "") and f not in optional]
        values = {f: v for f, v in values.items() if v not in (None, "")}
        where = f"{key.to_user_string()}[{part}]" if part else key.to_user_string()
        if missing:
            raise dg.Failure(description=f"{where} has no materialization with {', '.join(missing)}: "
                                         f"materialize {where} first", metadata={"upstream": where})
        return tp(**{f: str(v) for f, v in values.items()})
