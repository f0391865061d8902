"""Convention staleness: retrain the roles whose CLAUDE.md/AGENTS.md, formulas, overlays or settings drifted.

Each tick hashes the watched files (``node0_ops.drift.watch``), compares them with the corpus
version behind each role's active model, and requests one run per role whose drift score
(``node0_ops.drift.score``) reaches the threshold: corpus assets + that role's adapter, export,
eval and registry entry, ``partition_key=<role>``. Reverted files are flagged for review, not
retrained. Decisions go to the lineage table ``sensor_decisions``.
"""

import dagster as dg

from node0_ops.drift.decisions import record_decisions, record_tick
from node0_ops.drift.engine import SENSOR, DriftCursor, evaluate_drift
from node0_ops.drift.watch import scan
from resources import LineageResource, TownResource
from sensors.common import RETRAIN_KEYS, default_status, load_settings


@dg.sensor(name=SENSOR, target=dg.AssetSelection.assets(*RETRAIN_KEYS), minimum_interval_seconds=60,
           default_status=default_status(),
           description="Retrain roles whose convention files (CLAUDE.md, formulas, settings) drifted from their model's corpus.")
def convention_drift_sensor(context: dg.SensorEvaluationContext, town: TownResource,
                            lineage: LineageResource) -> dg.SensorResult:
    """One RunRequest per drifted role (run_key = hash of its changed file set); reversions flagged."""
    settings = load_settings(lineage.state())
    db = lineage.db()
    root = town.root_path()
    cursor = DriftCursor.loads(context.cursor)
    tick = evaluate_drift(db, root, scan(root, settings.drift.extra_paths), cursor, settings.drift)
    if not tick.changed:
        record_tick(db, SENSOR, tick.summary)
        return dg.SensorResult(skip_reason=dg.SkipReason(tick.summary), cursor=tick.cursor.dumps())
    record_decisions(db, tick.decisions)
    record_tick(db, SENSOR, tick.summary, {"scores": {r: round(s.score, 4) for r, s in tick.scores.items() if s.score}})
    for rev in tick.reversions.values():
        context.log.warning(f"flagged for review, not retraining: {rev.describe()}")
    runs = [dg.RunRequest(run_key=req.run_key, asset_selection=RETRAIN_KEYS, partition_key=req.role, tags=req.tags)
            for req in tick.requests]
    for req in tick.requests:
        context.log.info(f"{req.role}: drift {req.score:.3f} >= {settings.drift.threshold} ({', '.join(req.files[:5])})")
    if runs:
        return dg.SensorResult(run_requests=runs, cursor=tick.cursor.dumps())
    return dg.SensorResult(skip_reason=dg.SkipReason(tick.summary), cursor=tick.cursor.dumps())
