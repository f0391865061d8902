"""Versioned model registry, deploy/rollback into Gas Town settings, training jobs as beads, formulas.

    from node0_ops.registry.schema import registry_db
    from node0_ops.registry.store import register_model, resolve_model, list_models, prune, diff
    from node0_ops.registry.deploy import deploy, rollback
    db = registry_db()                                   # <state>/lineage.duckdb
    ref = register_model(db, "polecat", "smollm2-135m", adapters=[...], artifacts={...}, eval_report=report)
    deploy(db, ref, town_root=town, rig="gastown", role="polecat")

Modules: ``schema`` (tables), ``artifacts`` (hashing, kinds), ``store`` (models/adapters),
``settings`` (layout-preserving atomic JSON edits), ``rollout`` (progressive stages),
``deploy`` (deploy/rollback), ``hooks`` (node0-intake as the town's Claude SessionEnd hook),
``beads`` (training jobs as beads), ``formulas``
(validate/install ``*.formula.toml``), ``api`` (read-only HTTP), ``cli`` (``gt-model``).
No Dagster imports here.
"""
