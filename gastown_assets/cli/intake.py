"""``node0-intake``: take a closed Claude Code session into the corpus (the SessionEnd hook command).

    node0-intake [--state-dir S] [--town T] [--collect] < hook.json    what the hook runs
    node0-intake --event hook.json                                     the same, hook input from a file
    node0-intake --materialize KEY                                     collect a registered session now

Reads Claude Code's hook JSON (``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name``),
copies the transcript into ``<state>/intake/sessions``, registers it in ``intake_sessions`` and adds
its key to the ``sessions`` dynamic partitions of the state's Dagster instance
(``<state>/dagster_home``), as the ``new_sessions`` sensor does (:mod:`node0_ops.drift.session_hook`).
The ``session_records`` run is started by that sensor (it watches the intake folder) or, with
``--collect``, right away in a detached process (Claude Code does not wait for a SessionEnd hook;
the run's log is ``<state>/intake/logs/<key>.log``). ``gt-model hooks install`` writes this
command into the town's Claude Code settings.

The copy is made before Dagster is imported, so a hook killed early still leaves the session
in the intake folder for the sensor.

Exit status: 0 taken (or already registered), 1 bad input or a failed step (the message names the
file), 2 usage error.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from node0_ops.paths import dagster_home, lineage_db_path, state_dir, town_root

PROG = "node0-intake"


def _read_event(args):
    from node0_ops.drift.session_hook import IntakeError, parse_hook_event

    if args.event in (None, "-"):
        return parse_hook_event(sys.stdin.read(), "stdin")
    try:
        return parse_hook_event(Path(args.event).read_text(encoding="utf-8"), args.event)
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(f"{args.event}: cannot read the hook input ({exc})") from None


def _instance():
    """The state's Dagster instance (``DAGSTER_HOME=<state>/dagster_home``, as every CLI of the project)."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    import dagster as dg

    return dg.DagsterInstance.get()


def _spawn_collect(state: Path, town: Path, key: str) -> Path:
    """Start ``node0-intake --materialize KEY`` detached from the hook; returns its log file."""
    log = state / "intake" / "logs" / f"{key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "gastown_assets.cli.intake", "--state-dir", str(state), "--town", str(town),
           "--materialize", key]
    with open(log, "ab") as fh:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    return log


def cmd_take(args) -> int:
    """Hook mode: copy, register, add the partition (module docstring)."""
    from node0_ops.corpus import store
    from node0_ops.drift.session_hook import intake_dir, register_transcript, take_transcript

    event = _read_event(args)
    state = state_dir()
    copy, check = take_transcript(event, intake_dir(state))
    town = town_root(args.town, state)
    req, registered = register_transcript(store.open_db(lineage_db_path()), copy, town, check)
    from gastown_assets.defs.intake.partitions import session_partitions  # dagster only after the copy is safe

    with _instance() as instance:
        if not instance.has_dynamic_partition(session_partitions.name, req.key):   # also mends a cut-short run
            instance.add_dynamic_partitions(session_partitions.name, [req.key])
    if not registered:
        print(f"{PROG}: {event.transcript_path} is registered already as session {req.key} ({req.path})")
        return 0
    bad = f", {check.n_bad} bad line(s) to quarantine" if check.n_bad else ""
    print(f"{PROG}: session {req.key} registered as a sessions partition: {copy} ({check.n_entries} entries{bad}; "
          f"role {req.role or '?'}, rig {req.rig or '-'})")
    if args.collect:
        print(f"  collecting in the background: log {_spawn_collect(state, town, req.key)}")
    else:
        print(f"  the new_sessions sensor collects it, or now: {PROG} --materialize {req.key}")
    return 0


def cmd_materialize(args) -> int:
    """Materialize ``session_records`` for one registered session partition in this process."""
    from gastown_assets.cli.common import materialize
    from gastown_assets.defs.intake.assets import session_records
    from gastown_assets.defs.intake.partitions import session_partitions
    from resources import LineageResource, ScrubberResource, TownResource

    key = args.materialize
    with _instance() as instance:
        known = instance.has_dynamic_partition(session_partitions.name, key)
    if not known:
        print(f"{PROG}: error: {key!r} is not a sessions partition of {state_dir()}; register the session first "
              f"(pipe its SessionEnd hook JSON into {PROG})", file=sys.stderr)
        return 1
    town = town_root(args.town, state_dir())
    result = materialize([session_records], partition_key=key, tags={"gtft/trigger": "session_end"}, resources={
        "lineage": LineageResource(), "town": TownResource(root=str(town)), "scrubber": ScrubberResource()})
    md = result.get_asset_materialization_events()[0].materialization.metadata
    print(f"{PROG}: session {key}: {md['n_records'].value} record(s), {md['n_quarantined'].value} quarantined, "
          f"{md['n_scrubbed_now'].value} scrubbed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", help="state directory (default: $GASTOWN_FT_HOME or ~/.local/state/gastown-finetune)")
    p.add_argument("--town", help="Gas Town root (default: $GT_ROOT, else the embedded sample town)")
    p.add_argument("--event", metavar="FILE", help="hook input JSON from a file instead of stdin ('-' = stdin)")
    p.add_argument("--collect", action="store_true",
                   help="also start the session_records run now, detached (log in <state>/intake/logs)")
    p.add_argument("--materialize", metavar="KEY", help="collect the registered session KEY in this process")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``node0-intake``; returns the exit status."""
    from node0_ops.drift.session_hook import IntakeError

    args = build_parser().parse_args(argv)
    if args.state_dir:
        os.environ["GASTOWN_FT_HOME"] = str(state_dir(args.state_dir))
    try:
        return cmd_materialize(args) if args.materialize else cmd_take(args)
    except (IntakeError, FileNotFoundError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: error: {exc.filename or ''} {exc.strerror or exc}".strip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
