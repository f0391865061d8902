"""Shared CLI plumbing: state/town flags, Dagster instance, in-process materialization."""

import argparse
import os
import sys

import dagster as dg

from node0_ops.cli_flags import share_flags
from node0_ops.paths import dagster_home, state_dir


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """``--state-dir`` and ``--town`` (on a parser, or on a subparser through :func:`share_common_flags`)."""
    parser.add_argument("--state-dir", help="state directory (default: $GASTOWN_FT_HOME or ~/.local/state/gastown-finetune)")
    parser.add_argument("--town", help="Gas Town root (default: $GT_ROOT, else the embedded sample town)")


def share_common_flags(subparsers) -> None:
    """Accept the common flags after the subcommand too (``node0-corpus build --state-dir S``);
    a value given there overrides one given before the subcommand (node0_ops.cli_flags)."""
    share_flags(subparsers, add_common_flags)


def apply_common_flags(args: argparse.Namespace) -> None:
    """Export the flags as env vars so resources, sensors and subprocesses agree."""
    if args.state_dir:
        os.environ["GASTOWN_FT_HOME"] = str(state_dir(args.state_dir))
    if getattr(args, "town", None):
        os.environ["GT_ROOT"] = args.town
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def materialize(selection: list, *, resources: dict, partition_key: str | None = None,
                run_config: dict | None = None, tags: dict | None = None) -> dg.ExecuteInProcessResult:
    """Materialize assets (and their checks) in-process on the state's Dagster instance,
    so the run shows in the UI. Exits with status 1 and the failure text when a step fails."""
    from resources.handles import HandleIOManager

    instance = dg.DagsterInstance.get()
    resources = {"io_manager": HandleIOManager(), **resources}
    level = os.environ.get("GTFT_DAGSTER_LOG_LEVEL", "WARNING")
    run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": level}}}}
    result = dg.materialize(selection, resources=resources, instance=instance, partition_key=partition_key,
                            run_config=run_config, tags=tags, raise_on_error=False)
    if not result.success:
        for ev in result.all_events:
            if ev.is_step_failure and ev.step_failure_data:
                err = ev.step_failure_data.error
                user = ev.step_failure_data.user_failure_data
                print(f"error in {ev.step_key}: {user.description if user and user.description else (err.message if err else '')}",
                      file=sys.stderr)
        sys.exit(1)
    return result
