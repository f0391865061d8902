"""Intake partitions: one dynamic partition per Claude Code session file (added by the new_sessions sensor)."""

import dagster as dg

session_partitions = dg.DynamicPartitionsDefinition(name="sessions")
