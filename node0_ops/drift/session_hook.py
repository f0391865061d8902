"""SessionEnd hook intake: copy a closed Claude Code session into the state's intake folder and
register it as a ``sessions`` partition, the way the ``new_sessions`` sensor does.

Claude Code runs a ``SessionEnd`` hook command with one JSON object on stdin (Claude Code hooks
reference, "Hook input"; ``shared/docs/gastown-formats.md`` §4 "Hook stdin JSON")::

    {"session_id": "<uuid>", "transcript_path": "~/.claude/projects/<mangled cwd>/<uuid>.jsonl",
     "cwd": "...", "hook_event_name": "SessionEnd", "reason": "exit"}

Steps; a failing step leaves every earlier copy and registration as it was:

1. :func:`parse_hook_event` checks the event (JSON object, ``transcript_path`` given, event
   ``SessionEnd`` when named);
2. :func:`take_transcript` copies the transcript into
   ``<state>/intake/sessions/<project folder>/<session_id>.jsonl`` through a temp file in that
   folder, checks the copy is JSONL (:func:`check_transcript`) and only then ``os.replace``-s it
   over an earlier copy of the same session (a resumed session that grew);
3. :func:`register_transcript` writes the ``intake_sessions`` row the sensor writes (status
   ``requested``; key and run key from :func:`node0_ops.drift.sessions.session_request`). Content
   already registered under another path (the sensor took the original first) is not registered
   twice.

Adding the Dagster dynamic partition and starting the ``session_records`` run are the console
script's part (``gastown_assets/cli/intake.py``: node0_ops never imports dagster). The
``new_sessions`` sensor also watches the intake folder, so a copy whose registration was cut short
(Claude Code may kill a SessionEnd hook as it exits) is still taken on its next tick.

Usage::

    event = parse_hook_event(sys.stdin.read())
    copy, check = take_transcript(event, intake_dir(state))
    request, registered = register_transcript(db, copy, town_root, check)
"""

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from node0_ops.corpus.collect import DEFAULT_MAX_LINE_BYTES
from node0_ops.corpus.readers import FileInfo, FileRejected, iter_jsonl
from node0_ops.drift.sessions import (SessionRequest, registered_paths, save_requests,
                                      session_request)
from node0_ops.lineage.db import LineageDB

EVENT = "SessionEnd"
INTAKE_DIR = Path("intake") / "sessions"


class IntakeError(ValueError):
    """Bad hook input or transcript; the message names the file (or stdin) and what is wrong."""


@dataclass(frozen=True)
class HookEvent:
    """The fields of a hook's stdin JSON that intake uses (``reason``: why the session ended)."""

    session_id: str
    transcript_path: Path
    cwd: str | None = None
    hook_event_name: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class TranscriptCheck:
    """A transcript that passed :func:`check_transcript`: entries, bad lines (quarantined at
    collection), content hash and size."""

    n_entries: int
    n_bad: int
    sha256: str
    size_bytes: int


def intake_dir(state: str | os.PathLike) -> Path:
    """``<state>/intake/sessions``: where the hook keeps its copies (the sensor watches it too)."""
    return Path(state) / INTAKE_DIR


def parse_hook_event(text: str, source: str = "stdin") -> HookEvent:
    """Read a Claude Code hook's stdin JSON.

    Raises:
        IntakeError: not JSON, not an object, no ``transcript_path``, or an event other than
            ``SessionEnd`` (the message names ``source``).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntakeError(f"{source}: hook input is not JSON ({exc.msg} at line {exc.lineno} col {exc.colno}); "
                          "expected Claude Code's hook object with session_id and transcript_path") from None
    if not isinstance(data, dict):
        raise IntakeError(f"{source}: hook input must be a JSON object, got {type(data).__name__}")
    event = data.get("hook_event_name")
    if event is not None and event != EVENT:
        raise IntakeError(f"{source}: hook_event_name is {event!r}; node0-intake takes closed sessions only "
                          f"(install it as a {EVENT} hook: gt-model hooks install)")
    raw = data.get("transcript_path")
    if not isinstance(raw, str) or not raw.strip():
        raise IntakeError(f"{source}: no transcript_path in the hook input (keys: {', '.join(sorted(data)) or 'none'})")
    path = Path(raw).expanduser()
    session_id = data.get("session_id")
    session_id = session_id.strip() if isinstance(session_id, str) and session_id.strip() else path.stem
    cwd = data.get("cwd") if isinstance(data.get("cwd"), str) else None
    reason = data.get("reason") if isinstance(data.get("reason"), str) else None
    return HookEvent(session_id, path, cwd, event, reason)


def check_transcript(path: Path, label: str | None = None) -> TranscriptCheck:
    """Check that ``path`` is a Claude Code JSONL transcript: its first line and at least one line
    are JSON objects. Later bad lines are counted (``session_records`` quarantines them).

    Args:
        label: the file name used in messages (default ``path``), e.g. the original of a temp copy.

    Raises:
        IntakeError: missing, not a file, empty, binary, or not JSONL (names the file and line).
    """
    label = label or str(path)
    _must_be_file(path, label)
    info = FileInfo(path, kind="transcript")
    good = bad = 0
    try:
        for ln in iter_jsonl(info, DEFAULT_MAX_LINE_BYTES):
            if ln.error is None:
                good += 1
            elif good == 0 and bad == 0:
                raise IntakeError(f"{label}: not a JSONL transcript (line {ln.lineno}: {ln.error})")
            else:
                bad += 1
    except FileRejected as exc:
        raise IntakeError(f"{label}: not a JSONL transcript ({exc.position}: {exc.reason})") from None
    except OSError as exc:
        raise IntakeError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if not good:
        raise IntakeError(f"{label}: not a JSONL transcript (no line holds a JSON object)")
    return TranscriptCheck(good, bad, info.sha256, info.size)


def _must_be_file(path: Path, label: str) -> None:
    if not path.exists():
        raise IntakeError(f"{label}: transcript not found")
    if not path.is_file():
        raise IntakeError(f"{label}: not a file")


def _safe_name(name: str) -> str:
    """A file or folder name: runs of other characters become ``-``; ``""``/``.``/``..`` become ``session``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    return name if name.strip(".") else "session"


def copy_path(event: HookEvent, folder: Path) -> Path:
    """Where the copy of ``event``'s transcript goes: ``<folder>/<project folder>/<session_id>.jsonl``."""
    return folder / _safe_name(event.transcript_path.parent.name) / f"{_safe_name(event.session_id)}.jsonl"


def take_transcript(event: HookEvent, folder: Path) -> tuple[Path, TranscriptCheck]:
    """Copy the event's transcript into ``folder`` (module docstring, step 2).

    Returns:
        ``(copy path, check of the copy)``.

    Raises:
        IntakeError: the transcript is missing, cannot be copied or is not JSONL; an earlier copy stays
            untouched and no temp file is left.
    """
    src = event.transcript_path
    _must_be_file(src, str(src))
    dst = copy_path(event, folder)
    made = not dst.parent.exists()
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            shutil.copy2(src, tmp)   # keeps the mtime: the sensor's min_age_s counts from the session's last write
        except OSError as exc:
            raise IntakeError(f"{src}: cannot copy into {dst.parent} ({exc.strerror or exc})") from None
        check = check_transcript(Path(tmp), label=str(src))   # checks what is kept, not the live file
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if made and not any(dst.parent.iterdir()):
            dst.parent.rmdir()
        raise
    return dst, check


def register_transcript(db: LineageDB, path: Path, town_root: Path, check: TranscriptCheck,
                        known_keys: Iterable[str] = ()) -> tuple[SessionRequest, bool]:
    """Register a copied transcript as a session partition (module docstring, step 3).

    Args:
        check: the copy's :class:`TranscriptCheck` (its hash and size go into the row).
        known_keys: partition keys that exist already (sets ``new_partition``).

    Returns:
        ``(request, registered)``; ``registered`` is False when the same content is registered already
        (this copy delivered twice, or the sensor took the original first): ``request`` then
        describes that row and nothing is written.
    """
    taken = {r["session_key"]: r["path"] for r in db.query("select session_key, path from intake_sessions")}
    holders = registered_paths(db).get(check.sha256, set())
    if holders:
        held = str(path) if str(path) in holders else sorted(holders)[0]
        key = next(k for k, p in taken.items() if p == held)
        return session_request(Path(held), check.sha256, taken, set(known_keys) | {key}, town_root,
                               size_bytes=check.size_bytes), False
    req = session_request(path, check.sha256, taken, known_keys, town_root, size_bytes=check.size_bytes)
    save_requests(db, [req])
    return req, True
