"""New sessions: register each new Claude Code session file as a ``sessions`` partition and collect it.

Also the safety net of the SessionEnd hook (``node0-intake``): its copies in ``<state>/intake/sessions``
are watched too, so a copy the hook registered gets its ``session_records`` run here, and one whose
registration was cut short is registered here.
"""

import dagster as dg

from gastown_assets.defs.intake.assets import session_records
from gastown_assets.defs.intake.partitions import session_partitions
from node0_ops.drift.decisions import record_decisions, record_tick
from node0_ops.drift.session_hook import intake_dir
from node0_ops.drift.sessions import SENSOR, SessionCursor, evaluate_sessions, find_session_files
from node0_ops.drift.watch import relative
from resources import LineageResource, TownResource
from sensors.common import default_status, load_settings


@dg.sensor(name=SENSOR, target=session_records, minimum_interval_seconds=60, default_status=default_status(),
           description="Add new Claude Code session files as `sessions` partitions and collect each one.")
def new_sessions_sensor(context: dg.SensorEvaluationContext, town: TownResource,
                        lineage: LineageResource) -> dg.SensorResult:
    """One dynamic-partition add per new session file and one ``session_records`` run per new/grown file."""
    settings = load_settings(lineage.state())
    db = lineage.db()
    root = town.root_path()
    files = find_session_files(root, settings.sessions, [*town.transcript_paths(), intake_dir(lineage.state())])
    known = context.instance.get_dynamic_partitions(session_partitions.name)
    tick = evaluate_sessions(db, root, files, SessionCursor.loads(context.cursor), settings.sessions, known)
    record_decisions(db, tick.decisions)
    record_tick(db, SENSOR, tick.summary)
    if not tick.requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(tick.summary), cursor=tick.cursor.dumps())
    runs = [dg.RunRequest(run_key=r.run_key, asset_selection=[session_records.key], partition_key=r.key,
                          tags={"gtft/trigger": "session", "gtft/session_path": relative(r.path, root)[-200:],
                                **({"gtft/role": r.role} if r.role else {})})
            for r in tick.requests]
    adds = [session_partitions.build_add_request(tick.new_keys)] if tick.new_keys else []
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=adds, cursor=tick.cursor.dumps())
