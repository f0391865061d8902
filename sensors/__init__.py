"""Sensors: convention drift -> retrain, new sessions -> intake, eval regressions -> warn/rollback.

    from sensors import all_sensors
    dg.Definitions(..., sensors=all_sensors)

All three default to STOPPED (``GTFT_SENSORS=running`` starts them with the daemon); the
logic lives in ``node0_ops.drift`` and the decisions in the lineage table ``sensor_decisions``.
"""

from sensors.convention_drift import convention_drift_sensor
from sensors.eval_regression import eval_regression_sensor
from sensors.new_sessions import new_sessions_sensor

all_sensors = [convention_drift_sensor, new_sessions_sensor, eval_regression_sensor]

__all__ = ["all_sensors", "convention_drift_sensor", "eval_regression_sensor", "new_sessions_sensor"]
