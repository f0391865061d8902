"""Shared sensor plumbing: default status, settings, the retrain asset selection."""

import os

import dagster as dg

from gastown_assets.defs.jobs import CORPUS_ASSETS, ROLE_ASSETS

# what a convention-drift retrain materializes: the corpus (unpartitioned) and one role's
# model chain (role-partitioned); Dagster runs both kinds in one run with partition_key=<role>;
# it stops at the registry entry: the new version is a candidate until someone deploys it
RETRAIN_KEYS = [dg.AssetKey(k) for k in CORPUS_ASSETS + ROLE_ASSETS if k != "role_deployment"]
SENSORS_ENV = "GTFT_SENSORS"


def default_status() -> dg.DefaultSensorStatus:
    """RUNNING when ``GTFT_SENSORS=running`` at load time, else STOPPED (turn on in the UI)."""
    on = os.environ.get(SENSORS_ENV, "").strip().lower() in ("running", "on", "1", "true")
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def load_settings(state):
    """:class:`~node0_ops.drift.sensor_config.SensorSettings` of the state dir.

    Raises:
        dg.Failure: the settings file is invalid (the message names the file and key).
    """
    from node0_ops.drift.sensor_config import SensorSettings

    try:
        return SensorSettings.load(state)
    except ValueError as exc:
        raise dg.Failure(description=f"sensor settings: {exc}", metadata={"state": str(state)}) from None
