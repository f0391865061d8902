"""Claude Code session transcripts: discovery and one Record per session file.

Usage::

    from node0_ops.corpus.transcripts import find_home_transcripts, collect_transcript, role_from_cwd
    files = find_home_transcripts(Path("~/gt").expanduser())
    rig, role = role_from_cwd("/home/me/gt/gastown/polecats/toast", town_root=Path("/home/me/gt"))

Layout (``shared/docs/gastown-formats.md`` §4 "Claude Code transcripts"):
``~/.claude/projects/<abs cwd with '/'→'-'>/<session-uuid>.jsonl`` or the same under
``$CLAUDE_CONFIG_DIR/projects``; each line ``{type, sessionId, cwd, timestamp,
message: {role, content: [blocks]}}``. Roles from the cwd follow the work_dir
column of §3.1 and the town layout of §3.4.

Payload (kind ``transcript``, source_key ``session:<uuid>``)::

    {session_id, cwd, n_lines,
     entries: [{line, type, timestamp, role, content: [blocks as in the file],
                uuid?, parent_uuid?, is_sidechain?, model?}]}

A string ``message.content`` becomes one ``{"type": "text", "text": ...}``
block; a ``summary`` line becomes a text block with role None.
"""

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from node0_ops.corpus.readers import FileInfo, FileRejected, iter_jsonl
from node0_ops.corpus.schema import QuarantineEntry, Record
from node0_ops.corpus.sources import TOWN_DIRS, layout_role

DEACON_MARK = re.compile(r"hq-deacon|GT_ROLE[=:]\s*\"?deacon\b|mol-deacon-patrol|you are the deacon|"
                         r"\[GAS TOWN\]\s*deacon\b", re.I)


def mangle_cwd(path: str | os.PathLike) -> str:
    """Claude Code's project folder name for a cwd: every non-alphanumeric char → ``-``."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(path))


def home_projects_dir() -> Path:
    """``$CLAUDE_CONFIG_DIR/projects`` when the variable is set, else ``~/.claude/projects``."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".claude") / "projects"


def _project_matches(name: str, town_root: Path) -> bool:
    roots = {str(town_root), str(Path(town_root).resolve())}     # ~/gt may be a symlink
    for mangled in {m for r in roots for m in (mangle_cwd(r), r.replace("/", "-"))}:
        if name == mangled or name.startswith(mangled + "-"):
            return True
    return False


def find_home_transcripts(town_root: Path, projects_dir: Path | None = None) -> list[Path]:
    """Session files of project folders whose mangled cwd starts with the mangled town root.

    Mangling is lossy (``/gt-old`` and ``/gt/old`` mangle alike), so callers also
    check each session's own ``cwd`` (see ``collect.collect_town``).
    """
    projects = projects_dir or home_projects_dir()
    if not projects.is_dir():
        return []
    found = []
    for proj in sorted(p for p in projects.iterdir() if p.is_dir()):
        if _project_matches(proj.name, town_root):
            found += sorted(p for p in proj.rglob("*.jsonl") if p.is_file())
    return found


def find_transcripts_in(dirs: Sequence[Path]) -> list[Path]:
    """Every ``*.jsonl`` under the given folders (or the files themselves), sorted."""
    found = []
    for d in dirs:
        d = Path(d).expanduser()
        if d.is_file():
            found.append(d)
        elif d.is_dir():
            found += sorted(p for p in d.rglob("*.jsonl") if p.is_file())
    return found


def role_from_cwd(cwd: str | None, town_root: Path | None = None, session_text: str = ""
                  ) -> tuple[str | None, str | None]:
    """(rig, role) of a session from its cwd (§3.1 work_dir, §3.4 layout).

    Under ``town_root`` the layout is matched from the root: ``<rig>/polecats/<n>``,
    ``<rig>/crew/<n>``, ``<rig>/witness``, ``<rig>/refinery``, ``deacon/dogs/<n>``
    (dog; ``boot`` for the boot dog), ``deacon``, ``mayor``; the town root itself
    is the deacon's work_dir, so a session there is ``deacon`` only when its
    text says so (``hq-deacon``, ``mol-deacon-patrol``, ``GT_ROLE=deacon``...).
    Without a town root (or outside it) the leftmost layout match anywhere in
    the path is used.
    """
    if not cwd:
        return None, None
    path = PurePosixPath(cwd)
    if town_root is not None:
        root = PurePosixPath(str(town_root))
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            parts = None
        if parts is not None:
            if not parts:
                return None, ("deacon" if DEACON_MARK.search(session_text) else None)
            rig, role = layout_role(parts, clone_is_mayor=True)
            if rig is None and role is None and parts[0] not in TOWN_DIRS and not parts[0].startswith("."):
                rig = parts[0]
            return rig, role
    parts = path.parts
    for i in range(1, len(parts)):
        rig, role = layout_role(parts[i:], clone_is_mayor=True)
        if role is not None:
            return rig, role
    return None, None


def _content_blocks(obj: dict) -> tuple[str | None, list]:
    msg = obj.get("message")
    if isinstance(msg, dict):
        content = msg.get("content")
        if isinstance(content, str):
            return msg.get("role"), [{"type": "text", "text": content}]
        if isinstance(content, list):
            return msg.get("role"), [b if isinstance(b, dict) else {"type": "text", "text": str(b)} for b in content]
        return msg.get("role"), []
    if obj.get("type") == "summary" and isinstance(obj.get("summary"), str):
        return None, [{"type": "text", "text": obj["summary"]}]
    return None, []


def _entry(lineno: int, obj: dict) -> dict:
    role, content = _content_blocks(obj)
    entry = {"line": lineno, "type": obj.get("type"), "timestamp": obj.get("timestamp"),
             "role": role, "content": content}
    msg = obj.get("message") if isinstance(obj.get("message"), dict) else {}
    for key, src in (("uuid", obj.get("uuid")), ("parent_uuid", obj.get("parentUuid")),
                     ("is_sidechain", obj.get("isSidechain")), ("model", msg.get("model"))):
        if src is not None:
            entry[key] = src
    return entry


def _session_text(entries: list[dict], limit: int = 20) -> str:
    texts = []
    for e in entries[:limit]:
        for block in e["content"]:
            for key in ("text", "content"):
                if isinstance(block.get(key), str):
                    texts.append(block[key])
    return "\n".join(texts)


def collect_transcript(info: FileInfo, max_line_bytes: int, town_root: Path | None = None
                       ) -> tuple[list[Record], list[QuarantineEntry]]:
    """One ``transcript`` Record per session file (module docstring shape).

    Bad lines (truncated JSON, invalid UTF-8, over ``max_line_bytes``) are
    quarantined as ``line N``; the session keeps its good lines. A file with
    no good line gives no record. The session id is the first ``sessionId``
    (subagent files share their parent's), else the file stem.
    """
    entries, quarantine = [], []
    session_id = cwd = None
    n_lines = 0
    try:
        for ln in iter_jsonl(info, max_line_bytes):
            n_lines += 1
            if ln.error:
                quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
                continue
            obj = ln.obj
            session_id = session_id or (obj.get("sessionId") if isinstance(obj.get("sessionId"), str) else None)
            cwd = cwd or (obj.get("cwd") if isinstance(obj.get("cwd"), str) else None)
            entries.append(_entry(ln.lineno, obj))
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    if not entries:
        return [], quarantine
    session_id = session_id or info.path.stem
    rig, role = role_from_cwd(cwd, town_root, _session_text(entries))
    payload = {"session_id": session_id, "cwd": cwd, "entries": entries, "n_lines": n_lines}
    prov = info.prov(1, 0, rig=rig or info.rig, role=role or info.role)
    return [Record("transcript", f"session:{session_id}", payload, prov)], quarantine
