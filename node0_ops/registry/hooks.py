"""node0's ``SessionEnd`` hook in the Claude Code settings a Gas Town uses: install, uninstall, status.

The hook hands every closed session to ``node0-intake`` (``gastown_assets/cli/intake.py``), which
copies its transcript into the state's intake folder and registers it as a ``sessions`` partition.
Claude Code hooks format (Claude Code settings reference, "Hooks"; the town's own templates
``internal/hooks/templates/claude/settings-*.json``, ``gastown-formats.md`` §3.1 "Hook wiring")::

    {"hooks": {"SessionEnd": [{"hooks": [{"type": "command", "command": "/…/node0-intake --state-dir S --town T"}]}]}}

Which files (gastown ``docs/HOOKS.md`` "Generated targets"): Gas Town passes
``<role parent>/.claude/settings.json`` to each Claude session (``--settings``): ``mayor/``,
``deacon/`` and, per rig, ``crew/``, ``witness/``, ``refinery/``, ``polecats/``. The folder and file
names come from the town's ``provider: claude`` agent entries (``agents.<name>.hooks.dir`` /
``settings_file`` in ``settings/config.json``; default ``.claude`` / ``settings.json``). Default
targets: every one of those files that exists, else the town root's (sessions started at the town
root read it as project settings). ``settings=`` names files explicitly.

Ours = every hook whose command runs ``node0-intake``. :func:`install` leaves exactly one (installing
twice changes nothing; a new state dir replaces the old command in place), :func:`uninstall` removes
only ours (an entry left without hooks is dropped, ``SessionEnd`` and ``hooks`` when they empty),
:func:`status` reports ours and the others. Edits go through
:func:`node0_ops.registry.settings.edit_settings` (other bytes kept, backup, atomic replace, lock).

``gt hooks sync`` regenerates the hooks of these files from ``~/.gt/hooks-base.json`` and its
overrides, whose events do not include ``SessionEnd``: run ``gt-model hooks install`` again after a
sync (``gt-model hooks status`` shows where it is missing); the ``new_sessions`` sensor keeps taking
sessions meanwhile.

Usage::

    from node0_ops.registry.hooks import install, intake_command, status
    cmd = intake_command(state, town)
    results = install(town, cmd)            # [HookChange(path, action, backup_path)]
    rows = status(town, cmd)
"""

import json
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from node0_ops.registry.settings import DELETE, SettingsError, edit_settings

EVENT = "SessionEnd"
SCRIPT = "node0-intake"
TOWN_PARENTS = ("mayor", "deacon")
RIG_PARENTS = ("crew", "witness", "refinery", "polecats")
DEFAULT_NAMES = (".claude", "settings.json")


@dataclass
class HookChange:
    """What :func:`install` / :func:`uninstall` did to one file: ``installed`` (new), ``updated``
    (our command replaced), ``unchanged``, ``removed`` or ``absent`` (nothing of ours there)."""

    path: str
    action: str
    backup_path: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HookStatus:
    """One settings file: does it exist, our commands in it, whether one is the expected command,
    and the other ``SessionEnd`` hook commands."""

    path: str
    exists: bool
    ours: list[str] = field(default_factory=list)
    current: bool = False
    others: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def intake_command(state: str | Path, town: str | Path, *, collect: bool = False) -> str:
    """The hook command: ``node0-intake`` next to this Python (the venv's ``bin``) when it is there,
    with the state dir and town spelled out (a Claude session does not have ours in its env)."""
    exe = Path(sys.executable).parent / SCRIPT
    argv = [str(exe) if exe.is_file() else SCRIPT, "--state-dir", str(Path(state).resolve()),
            "--town", str(Path(town).resolve())]
    return shlex.join(argv + (["--collect"] if collect else []))


def is_ours(command: Any) -> bool:
    """True when a hook command runs ``node0-intake`` (any path, any flags)."""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return any(Path(w).name == SCRIPT for w in words)


def settings_names(town_root: Path) -> list[tuple[str, str]]:
    """``(dir, settings_file)`` of the town's Claude agents in ``settings/config.json``
    (default ``.claude`` / ``settings.json``)."""
    try:
        doc = json.loads((Path(town_root) / "settings" / "config.json").read_text())
    except (OSError, ValueError):
        doc = {}
    agents = doc.get("agents") if isinstance(doc, dict) and isinstance(doc.get("agents"), dict) else {}
    names = []
    for entry in agents.values():
        hooks = entry.get("hooks") if isinstance(entry, dict) else None
        if isinstance(hooks, dict) and hooks.get("provider", "claude") == "claude":
            pair = (str(hooks.get("dir") or DEFAULT_NAMES[0]), str(hooks.get("settings_file") or DEFAULT_NAMES[1]))
            if pair not in names:
                names.append(pair)
    return names or [DEFAULT_NAMES]


def candidate_files(town_root: Path) -> list[Path]:
    """Every Claude settings file the town may use: the town root's, then the role parents' (module docstring)."""
    from node0_ops.serve.prime_source import rigs

    town = Path(town_root)
    parents = [town] + [town / p for p in TOWN_PARENTS] + [town / r / p for r in rigs(town) for p in RIG_PARENTS]
    return [parent / d / f for parent in parents for d, f in settings_names(town)]


def default_targets(town_root: Path) -> list[Path]:
    """Files :func:`install` writes by default: the role parents' files that exist, else the town root's."""
    found = [p for p in candidate_files(town_root)[len(settings_names(town_root)):] if p.is_file()]
    return found or candidate_files(town_root)[:1]


def _session_end(doc: dict, path: Path) -> list:
    hooks = doc.get("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError(f"{path}: 'hooks' is a {type(hooks).__name__}, expected an object of events")
    entries = hooks.get(EVENT, [])
    if not isinstance(entries, list):
        raise SettingsError(f"{path}: hooks.{EVENT} is a {type(entries).__name__}, expected a list of matcher entries")
    return entries


def _commands(entries: list) -> list[str]:
    return [h.get("command") for e in entries if isinstance(e, dict) for h in (e.get("hooks") or [])
            if isinstance(h, dict) and isinstance(h.get("command"), str)]


def _without_ours(entries: list) -> list:
    """``entries`` with our hooks taken out; an entry that only held ours is dropped."""
    out = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("hooks"), list):
            out.append(e)
            continue
        kept = [h for h in e["hooks"] if not (isinstance(h, dict) and is_ours(h.get("command")))]
        if len(kept) == len(e["hooks"]):
            out.append(e)
        elif kept:
            out.append({**e, "hooks": kept})
    return out


def _remove_edits(doc: dict, entries: list) -> dict:
    rest = _without_ours(entries)
    if rest:
        return {("hooks", EVENT): rest}
    others = {k for k in doc.get("hooks", {}) if k != EVENT}
    return {("hooks",): DELETE} if not others else {("hooks", EVENT): DELETE}


def install(town_root: Path, command: str, settings: list[Path] | None = None) -> list[HookChange]:
    """Put our ``SessionEnd`` hook (``command``) into each target file, once.

    Args:
        settings: files to edit (created when missing); default :func:`default_targets`.

    Raises:
        SettingsError: a file that is not a JSON object, or whose ``hooks`` / ``hooks.SessionEnd``
            has the wrong shape (names the file; the file is left as it was).
    """
    out = []
    for path in settings or default_targets(town_root):
        seen: dict = {}

        def edits(doc: dict, path=path, seen=seen) -> dict:
            entries = _session_end(doc, path)
            ours = [c for c in _commands(entries) if is_ours(c)]
            seen["ours"] = ours
            if ours == [command]:
                return {}
            return {("hooks", EVENT): _without_ours(entries) + [{"hooks": [{"type": "command", "command": command}]}]}

        res = edit_settings(path, edits, default_type=None)
        action = "unchanged" if not res.changed else ("updated" if seen.get("ours") else "installed")
        out.append(HookChange(str(path), action, str(res.backup_path) if res.backup_path else None))
    return out


def uninstall(town_root: Path, settings: list[Path] | None = None) -> list[HookChange]:
    """Remove our hooks from each file (default: every existing :func:`candidate_files`); others stay.

    Raises:
        SettingsError: as :func:`install`.
    """
    out = []
    for path in settings or [p for p in candidate_files(town_root) if p.is_file()]:
        if not path.is_file():
            out.append(HookChange(str(path), "absent"))
            continue

        def edits(doc: dict, path=path) -> dict:
            entries = _session_end(doc, path)
            return _remove_edits(doc, entries) if any(is_ours(c) for c in _commands(entries)) else {}

        res = edit_settings(path, edits, default_type=None)
        out.append(HookChange(str(path), "removed" if res.changed else "absent",
                              str(res.backup_path) if res.backup_path else None))
    return out


def status(town_root: Path, command: str | None = None, settings: list[Path] | None = None) -> list[HookStatus]:
    """Our hook in each file (default: the default targets and every existing candidate file).

    Args:
        command: the expected command (``current`` is True where it is installed as is).

    Raises:
        SettingsError: a file that is not JSON or has a wrongly shaped ``hooks``.
    """
    files = settings or list(dict.fromkeys(default_targets(town_root)
                                           + [p for p in candidate_files(town_root) if p.is_file()]))
    rows = []
    for path in files:
        if not path.is_file():
            rows.append(HookStatus(str(path), False))
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SettingsError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise SettingsError(f"{path}: top level must be a JSON object, got {type(doc).__name__}")
        cmds = _commands(_session_end(doc, path))
        ours = [c for c in cmds if is_ours(c)]
        rows.append(HookStatus(str(path), True, ours, command in ours if command else bool(ours),
                               [c for c in cmds if not is_ours(c)]))
    return rows


@dataclass
class IntakeHandoff:
    """What :func:`hand_to_intake` did: ``taken`` (node0-intake exit 0), ``skipped`` (no transcript
    or an empty one: nothing to take) or ``failed`` (``detail`` holds its message)."""

    outcome: str
    detail: str
    command: str


def hand_to_intake(transcript_path: str | Path, session_id: str, cwd: str, state: str | Path,
                   town: str | Path, *, timeout_s: float = 120.0) -> IntakeHandoff:
    """Hand a closed node0 agent session to ``node0-intake`` exactly as the Claude Code
    ``SessionEnd`` hook does: run :func:`intake_command` with the hook JSON (``session_id``,
    ``transcript_path``, ``cwd``, ``hook_event_name``) on stdin.

    Never raises: a missing ``node0-intake``, a timeout (``timeout_s`` seconds) or a non-zero exit
    is returned as ``failed`` with the command's message, so an agent's exit is never lost to it.
    """
    import subprocess

    command = intake_command(state, town)
    path = Path(transcript_path)
    if not path.is_file() or path.stat().st_size == 0:
        return IntakeHandoff("skipped", f"{path}: no transcript written (nothing was said)", command)
    event = json.dumps({"session_id": session_id, "transcript_path": str(path.resolve()), "cwd": cwd,
                        "hook_event_name": EVENT, "reason": "node0-agent-exit"})
    try:
        done = subprocess.run(shlex.split(command), input=event, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except FileNotFoundError:
        return IntakeHandoff("failed", f"{SCRIPT} not found (install the project: make run)", command)
    except subprocess.TimeoutExpired:
        return IntakeHandoff("failed", f"{SCRIPT} did not finish in {timeout_s:.0f} s", command)
    if done.returncode != 0:
        text = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return IntakeHandoff("failed", f"exit {done.returncode}: {text[-1] if text else 'no message'}", command)
    return IntakeHandoff("taken", done.stdout.strip() or "taken", command)
