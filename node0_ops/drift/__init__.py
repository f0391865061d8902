"""Convention drift, session intake and eval-regression logic behind the Dagster sensors (no Dagster here).

Modules:

- ``watch``: which files are convention material (CLAUDE.md/AGENTS.md, formula dirs,
  overlays, settings, directives) and their sha256 now.
- ``baseline``: each role's reference corpus version (its active model's, else the latest)
  and the per-file example counts (``examples.record_ids -> records.path``).
- ``score``: the drift formula (documented there)::

      drift_r = sum_{changed f} w_r(f) / sum_{all watched f} w_r(f),
      w_r(f)  = max(examples of r from f in the baseline, examples of r from f now) [+ u if none]

- ``reversion``: files whose content returned to an earlier version (held for review).
- ``engine``: one drift-sensor tick: cursor in, decisions + retrain requests + cursor out.
- ``sessions``: new Claude Code session files -> ``sessions`` partitions.
- ``session_hook``: a closed session from Claude Code's SessionEnd hook -> intake copy + ``sessions`` partition.
- ``regression``: eval-report regressions and optional rollback.
- ``decisions``: ``sensor_decisions`` / ``sensor_ticks`` tables; ``status``: ``gt-model status`` lines.
- ``sensor_config``: thresholds and switches (``<state>/sensors.yaml`` + env).

Usage::

    from node0_ops.drift.engine import DriftCursor, evaluate_drift
    from node0_ops.drift.watch import scan
    tick = evaluate_drift(db, town, scan(town), DriftCursor.loads(raw), SensorSettings.load(state).drift)
"""
