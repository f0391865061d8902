"""Dagster code location of gastown-finetune: thin assets, checks and partitions.

``dagster dev -m gastown_assets.definitions`` (or ``-w workspace.yaml``) opens the UI.
"""
