"""New Claude Code sessions: find session files, name them as partitions, remember them.

Where sessions are looked for (``shared/docs/gastown-formats.md`` §4): ``<town>/.claude/projects``;
``$CLAUDE_CONFIG_DIR/projects`` or ``~/.claude/projects`` project folders whose mangled cwd
starts with the mangled town root (a session whose own ``cwd`` lies outside the town is
ignored, as :func:`node0_ops.corpus.collect.collect_town` does); configured folders.

Nothing is taken before the first full collection (``collected_records``), which reads every
session of the town itself. A session file is *new* when its ``(path, sha256)`` is not in the current corpus snapshot
(``current_sources``, which full collections and session intake both write). A file is
only taken once it is ``min_age_s`` old (mtime), so a live, growing session is not cut
mid-write; a session that grows after intake is taken again (same partition, new run key).
Files are re-hashed only when their size or mtime changed since the last tick.

Partition keys are the file stem (the session uuid) when it is a safe key, else a slug
plus a short hash; the ``intake_sessions`` table maps keys to paths for the
``session_records`` asset. The SessionEnd hook (:mod:`.session_hook`) registers its copies
through the same :func:`session_request` / :func:`save_requests`; a file whose content is already
registered under another path (the hook's copy and the original in ``~/.claude/projects``) is
not taken twice.

Usage::

    files = find_session_files(town_root, SessionIntakeConfig())
    tick = evaluate_sessions(db, town_root, files, SessionCursor.loads(raw), cfg, known_keys)
    tick.new_keys, tick.requests, tick.cursor.dumps()
"""

import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from node0_ops.corpus.readers import sha256_file
from node0_ops.corpus.schema import stable_id
from node0_ops.corpus.transcripts import find_home_transcripts, find_transcripts_in, role_from_cwd
from node0_ops.drift.decisions import Decision, now_utc
from node0_ops.drift.sensor_config import SessionIntakeConfig
from node0_ops.drift.watch import relative, town_path
from node0_ops.lineage.db import LineageDB, upsert

SENSOR = "new_sessions"
SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
SNIFF_BYTES = 65536



@dataclass(frozen=True)
class SessionFile:
    """A session transcript found on disk; ``home`` when it came from the user's projects dir."""

    path: Path
    home: bool = False


def session_cwd(path: Path) -> str | None:
    """The ``cwd`` of the first entry that has one (reads at most 64 KiB), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return None
    for line in head.splitlines():
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(obj, dict) and isinstance(obj.get("cwd"), str):
            return obj["cwd"]
    return None


def _under(path: str, root: Path) -> bool:
    p = PurePosixPath(path)
    return any(p == r or r in p.parents for r in (PurePosixPath(str(root)), PurePosixPath(str(root.resolve()))))


def find_session_files(town_root: str | os.PathLike, config: SessionIntakeConfig,
                       extra_dirs: Iterable[str | os.PathLike] = ()) -> list[SessionFile]:
    """Every session ``*.jsonl`` of the town (see the module doc), sorted, once each."""
    town = town_path(town_root)
    dirs = [town / ".claude" / "projects", *[Path(d).expanduser() for d in (*config.transcript_dirs, *extra_dirs)]]
    found: dict[Path, SessionFile] = {}
    for p in find_transcripts_in([d for d in dirs if d.exists()]):
        found.setdefault(p.resolve(), SessionFile(p.absolute()))
    if config.include_home:
        for p in find_home_transcripts(town):
            if p.resolve() in found:
                continue
            cwd = session_cwd(p)
            if cwd and not _under(cwd, town):
                continue   # mangled names are lossy: /gt-old matches /gt
            found[p.resolve()] = SessionFile(p.absolute(), home=True)
    return sorted(found.values(), key=lambda s: str(s.path))


def session_key(path: Path, taken: dict[str, str]) -> str:
    """Dynamic partition key for a session file (stable for the same path).

    Args:
        taken: ``{key: path}`` already assigned (from ``intake_sessions``).
    """
    for key, p in taken.items():
        if p == str(path):
            return key
    stem = path.name[:-len(".jsonl")] if path.name.endswith(".jsonl") else path.name
    key = stem if SAFE_KEY.match(stem) else (re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:60] or "session")
    if key != stem or (key in taken and taken[key] != str(path)):
        key = f"{key}-{stable_id(str(path), n=8)}"
    return key


@dataclass
class SessionCursor:
    """``files``: ``{path: [size, mtime_ns, sha256]}`` of every session file handled."""

    files: dict[str, list] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({"v": 1, "files": self.files}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> "SessionCursor":
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            data = {}
        return cls(dict(data.get("files") or {})) if isinstance(data, dict) and data.get("v") == 1 else cls()


@dataclass
class SessionRequest:
    """One session to collect: its partition key, file, content hash and run key."""

    key: str
    path: str
    sha256: str
    run_key: str
    role: str | None
    rig: str | None
    new_partition: bool
    size_bytes: int | None = None


@dataclass
class SessionTick:
    requests: list[SessionRequest]
    new_keys: list[str]
    waiting: list[str]
    cursor: SessionCursor
    decisions: list[Decision]
    summary: str


def evaluate_sessions(db: LineageDB, town_root: str | os.PathLike, files: Sequence[SessionFile],
                      cursor: SessionCursor, config: SessionIntakeConfig, known_keys: Iterable[str],
                      now: float | None = None) -> SessionTick:
    """Decide which session files to register and collect this tick (see the module doc).

    Args:
        known_keys: partition keys already in the ``sessions`` dynamic partitions.
        now: epoch seconds (tests); default ``time.time()``.

    Side effect: writes ``intake_sessions`` rows (status ``requested``) for the requests.
    """
    if not db.scalar("select count(*) from collections where scope = 'full'"):
        return SessionTick([], [], [], cursor, [], "no full collection yet: materialize collected_records first")
    now = time.time() if now is None else now
    town = town_path(town_root)
    known = set(known_keys)
    ingested = {(r["path"], r["sha256"]) for r in db.query("select path, sha256 from current_sources")}
    taken = {r["session_key"]: r["path"] for r in db.query("select session_key, path from intake_sessions")}
    registered = registered_paths(db)
    next_files = dict(cursor.files)
    requests, waiting, new_keys = [], [], []
    for sf in files:
        path = str(sf.path)
        try:
            st = sf.path.stat()
        except OSError:
            continue
        prev = cursor.files.get(path)
        if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns:
            continue
        if now - st.st_mtime < config.min_age_s:
            waiting.append(path)
            continue
        try:
            sha = sha256_file(sf.path)[0]
        except OSError:
            continue
        next_files[path] = [st.st_size, st.st_mtime_ns, sha]
        if (path, sha) in ingested or (prev and prev[2] == sha) or path not in registered.get(sha, {path}):
            continue   # collected, unchanged, or the same content registered under another path
        req = session_request(sf.path, sha, taken, known | set(new_keys), town, size_bytes=st.st_size)
        if req.new_partition:
            new_keys.append(req.key)
        requests.append(req)
    save_requests(db, requests)
    decisions = [Decision(SENSOR, "fired", [r.role] if r.role else [], None,
                          [{"path": relative(r.path, town), "status": "added" if r.new_partition else "grown",
                            "session_key": r.key}], [r.run_key], {"rig": r.rig, "sha256": r.sha256}, key=r.run_key)
                 for r in requests]
    summary = (f"{len(new_keys)} new session(s), {len(requests) - len(new_keys)} grown"
               if requests else "no new session")
    if waiting:
        summary += f"; {len(waiting)} too fresh (< {config.min_age_s:.0f} s)"
    return SessionTick(requests, new_keys, waiting, SessionCursor(next_files), decisions, summary)


def registered_paths(db: LineageDB) -> dict[str, set[str]]:
    """``{sha256: {path, ...}}`` of every ``intake_sessions`` row (what is registered, collected or not)."""
    out: dict[str, set[str]] = {}
    for r in db.query("select path, sha256 from intake_sessions where sha256 is not null"):
        out.setdefault(r["sha256"], set()).add(r["path"])
    return out


def session_request(path: Path, sha: str, taken: dict[str, str], known: Iterable[str], town_root: Path, *,
                    size_bytes: int | None = None) -> SessionRequest:
    """The request for one session file: partition key (:func:`session_key`, recorded in ``taken``),
    run key ``session-<key>-<sha12>``, rig and role from the session's ``cwd``.

    Args:
        taken: ``{key: path}`` already assigned; updated with this file's key.
        known: partition keys that exist already (``new_partition`` is False for them).
    """
    key = session_key(path, taken)
    taken[key] = str(path)
    cwd = session_cwd(path)
    rig, role = role_from_cwd(cwd, town_root) if cwd else (None, None)
    return SessionRequest(key, str(path), sha, f"session-{key}-{sha[:12]}", role, rig, key not in set(known),
                          size_bytes)


def save_requests(db: LineageDB, requests: Sequence[SessionRequest]) -> None:
    """Upsert the ``intake_sessions`` rows of ``requests`` (status ``requested``, not collected yet)."""
    if not requests:
        return
    ts = now_utc()
    with db.write() as con:
        upsert(con, "intake_sessions", [{
            "session_key": r.key, "path": r.path, "sha256": r.sha256, "size_bytes": r.size_bytes,
            "role": r.role, "rig": r.rig, "cwd": session_cwd(Path(r.path)), "discovered_at": ts,
            "status": "requested", "n_records": None, "n_quarantined": None, "collected_at": None}
            for r in requests])


def session_path(db: LineageDB, key: str) -> str:
    """The file of a session partition.

    Raises:
        KeyError: unknown key (not registered by the new-sessions sensor).
    """
    path = db.scalar("select path from intake_sessions where session_key = ?", [key])
    if path is None:
        raise KeyError(f"session partition {key!r} is not in intake_sessions: it is registered by the "
                       "new_sessions sensor; add the file under a watched transcript folder")
    return path


def mark_collected(db: LineageDB, key: str, sha: str, n_records: int, n_quarantined: int) -> None:
    """Record that a session partition was collected."""
    with db.write() as con:
        con.execute("""update intake_sessions set status = 'collected', sha256 = ?, n_records = ?,
                       n_quarantined = ?, collected_at = ? where session_key = ?""",
                    [sha, n_records, n_quarantined, now_utc(), key])
