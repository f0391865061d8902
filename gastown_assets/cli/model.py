"""``gt-model``: the registry CLI (``node0_ops.registry.cli``) with its actions shown in the Dagster UI.

Deploy, rollback and prune change the registry and town settings outside any Dagster run. This
entry point reports each one as a runless asset event on the state's Dagster instance
(``<state>/dagster_home``), so the UI, the project's registry browser, shows it:

* ``deploy`` / ``rollback``: a materialization of ``role_deployment[<role>]`` with the model, the
  previous model, who (``BD_ACTOR``, else the login name), why, scope and settings file;
* ``prune``: an observation of ``registry_entry[<role>]`` with the archived versions and bytes freed.

A failure to report never undoes the action: it is printed as a warning.

Usage::

    gt-model deploy deacon-v1 --town --role deacon --force --reason "hotfix gt-abc12"
    gt-model rollback deacon --town
"""

import getpass
import os
import sys

from node0_ops.paths import dagster_home
from node0_ops.registry import cli as registry_cli


def actor() -> str:
    """Who acts: ``BD_ACTOR`` (Gas Town's actor variable), else the login name."""
    return os.environ.get("BD_ACTOR") or getpass.getuser()


def registry_event(action: str, payload: dict):
    """The Dagster event for one registry action (``None`` for actions the UI does not track).

    Args:
        action: ``deploy``, ``rollback`` or ``prune``.
        payload: ``DeployResult.to_dict()`` (deploy, rollback) or ``prune``'s report dict.

    Returns:
        ``dg.AssetMaterialization`` of ``role_deployment`` (deploy, rollback), ``dg.AssetObservation``
        of ``registry_entry`` (a prune that archived something), or ``None``.
    """
    import dagster as dg  # here, not at module top: `gt-model list` & co. start without dagster's import time

    if action in ("deploy", "rollback"):
        scope = f"rig {payload['rig']}" if payload.get("rig") else payload.get("scope") or "town"
        md = {"action": action, "model": payload.get("model") or "-", "previous_model": payload.get("previous_model") or "-",
              "who": actor(), "reason": payload.get("reason") or "-", "scope": scope,
              "settings": dg.MetadataValue.path(payload["settings_path"]), "deploy_id": payload["deploy_id"],
              "forced": bool(payload.get("forced")), "source": "gt-model"}
        verb = "deployed" if action == "deploy" else "rolled back"
        return dg.AssetMaterialization(asset_key="role_deployment", partition=payload["role"], metadata=md,
                                       description=f"gt-model {action}: {payload['role']} {verb} in {scope}")
    if action == "prune" and not payload.get("dry_run") and payload.get("pruned"):
        md = {"action": "prune", "who": actor(), "keep": payload.get("keep"), "source": "gt-model",
              "archived": dg.MetadataValue.json([p["ref"] for p in payload["pruned"]]),
              "bytes_freed": sum(int(p.get("bytes") or 0) for p in payload["pruned"])}
        return dg.AssetObservation(asset_key="registry_entry", partition=payload["role"], metadata=md,
                                   description=f"gt-model prune: archived {len(payload['pruned'])} version(s)")
    return None


def report(action: str, payload: dict, state) -> None:
    """Report ``action`` on the Dagster instance of ``state`` (see :func:`registry_event`)."""
    import dagster as dg

    event = registry_event(action, payload)
    if event is None:
        return
    with dg.DagsterInstance.from_config(str(dagster_home(state))) as instance:
        instance.report_runless_asset_event(event)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gt-model``; returns the exit status."""
    return registry_cli.main(argv, on_action=report)


if __name__ == "__main__":
    sys.exit(main())
