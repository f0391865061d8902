"""Find and classify the files of a Gas Town (or of copied gt/bd repositories).

Usage::

    from node0_ops.corpus.sources import classify, walk_files, SkipCounter
    skipped = SkipCounter()
    for path, root in walk_files([Path("~/gt").expanduser()], skipped):
        kind, rig, role = classify(path, root)

``classify`` is path-based, with a small content sniff (first line / 4 KiB)
only for files whose name does not say what they are (``*.jsonl`` outside
``.beads/``, ``*.toml`` that may be a formula overlay). Every file it does not
recognise is skipped silently but deterministically and counted by reason.

Layout and naming rules come from ``shared/docs/gastown-formats.md``:
§1.2 (overlays), §1.3 (formula locations), §2.2 (beads files), §3.1 (roles,
templates, CLAUDE.md/AGENTS.md), §3.3/§3.4 (settings files, town layout),
§4 (events, feed, transcripts).
"""

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from node0_ops.corpus.schema import ROLES

# Directories never descended into (VCS, caches, Dolt storage, runtime state).
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tox", ".dolt-data", ".dolt", ".runtime", ".idea", ".vscode",
})
# Top-level town directories that are not rigs (gastown-formats.md §3.4).
TOWN_DIRS = frozenset({
    "mayor", "deacon", "settings", "docs", "logs", "formula-overlays", "directives", "config",
    "daemon", "plugins", "boot", "dogs", "templates", "internal", "cmd", "scripts", "website",
    "examples",
})
# A first-level folder is a rig (or a copied repo named after one) when it holds one of these.
RIG_MARKERS = (".beads", "polecats", "crew", "witness", "refinery", "config.json")

INSTRUCTION_NAMES = frozenset({"claude.md", "agents.md", "agent_instructions.md", "skill.md"})
INSTRUCTION_DIRS = frozenset({".claude", ".cursor", ".opencode", "skills", "commands", "directives"})
MARKDOWN_EXTS = frozenset({".md", ".markdown", ".mdx"})
BACKUP_TABLES = {
    "issues.jsonl": "beads_issue", "dependencies.jsonl": "beads_issue", "labels.jsonl": "beads_issue",
    "comments.jsonl": "beads_issue", "events.jsonl": "beads_event", "config.jsonl": "beads_config",
}
# Settings files (§3.3): town/rig/agent config JSON, hook templates. Kept strict so a rig's
# code (tsconfig.json, package.json, Cargo.toml) is not taken for Gas Town settings.
SETTINGS_DIRS = frozenset({"settings", "hooks", ".claude", ".gt", ".gemini", ".codex", ".cursor", ".opencode"})
SETTINGS_JSON = re.compile(
    r"^((settings|config|town|rigs|daemon|accounts|escalation|messaging|agents|hooks-base)([-.][\w.-]*)?"
    r"|[\w.-]*-settings[\w.-]*|opencode[\w.-]*)\.json$", re.I)
SETTINGS_TOML = re.compile(r"^(config|settings)([-.][\w.-]*)?\.toml$", re.I)
# Saved `gt prime` / `bd prime` output. Deliberately narrower than "*prime*.md": the real
# repos hold docs *about* prime (cli-reference/prime.md, commands/prime.md) that are not output.
PRIME_NAME = re.compile(r"(prime[-_.]?output|^gt[-_]prime|\.prime\.(txt|md)$|prime.*\.txt$)", re.I)
OVERLAY_SNIFF = re.compile(rb"^\s*\[\[\s*step-overrides\s*\]\]", re.M)
NAME_ROLE_KINDS = frozenset({"role_template", "role_config", "prime_output"})   # role named by the file
TRANSCRIPT_TYPES = frozenset({"user", "assistant", "summary", "system", "file-history-snapshot"})


class SkipCounter(Counter):
    """Counts skipped files by reason (``ext:.go``, ``name:LICENSE``, ``dir:.git``, ...)."""


def _rel_parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        return path.relative_to(root).parts
    except ValueError:
        return path.parts[-4:]


@lru_cache(maxsize=4096)   # cleared by clear_caches() at the start of every collect run
def _looks_like_rig(folder: str) -> bool:
    base = Path(folder)
    return any((base / m).exists() for m in RIG_MARKERS)


def clear_caches() -> None:
    """Forget rig-folder checks (call once per collect run; towns change between runs)."""
    _looks_like_rig.cache_clear()


def role_from_name(name: str) -> str | None:
    """Role named by a file: ``polecat.md.tmpl``, ``witness.toml``, ``polecat-CLAUDE.md``.

    Returns one of :data:`ROLES` or None.
    """
    stem = name.split(".", 1)[0].lower()
    for token in re.split(r"[-_]", stem):
        if token in ROLES:
            return token
        if token == "polecats":
            return "polecat"
    return None


def layout_role(parts: Sequence[str], clone_is_mayor: bool = False) -> tuple[str | None, str | None]:
    """(rig, role) from town-relative path parts, anchored at the town root.

    Rules (gastown-formats.md §3.1 work_dir column, §3.4): ``<rig>/polecats/<name>`` →
    polecat, ``<rig>/crew/<name>`` → crew, ``<rig>/witness`` → witness,
    ``<rig>/refinery`` → refinery, ``<rig>/mayor/rig`` (the rig's canonical clone) →
    mayor only when ``clone_is_mayor`` (a session's cwd; files there belong to the rig),
    ``deacon/dogs/boot`` or ``boot`` → boot, ``deacon/dogs/<name>`` → dog,
    ``deacon`` → deacon, ``mayor`` → mayor.
    """
    if not parts:
        return None, None
    head = parts[0]
    if head == "deacon":
        if len(parts) >= 3 and parts[1] == "dogs":
            return None, ("boot" if parts[2] == "boot" else "dog")
        if len(parts) >= 2 and parts[1] == "boot":
            return None, "boot"
        return None, "deacon"
    if head == "mayor":
        return None, "mayor"
    if head == "boot":
        return None, "boot"
    if len(parts) >= 2:
        sub = parts[1]
        if sub == "polecats" and len(parts) >= 3:
            return head, "polecat"
        if sub == "crew" and len(parts) >= 3:
            return head, "crew"
        if sub in ("witness", "refinery"):
            return head, sub
        if sub == "mayor" and len(parts) >= 3 and parts[2] == "rig" and clone_is_mayor:
            return head, "mayor"
    return None, None


def rig_and_role(path: Path, root: Path, kind: str | None = None) -> tuple[str | None, str | None]:
    """Rig and role of a file from its place in the town (or copied repo) tree.

    The rig is the first folder under ``root`` when it looks like a rig (holds
    ``.beads``, ``polecats``, ``crew``, ``witness``, ``refinery`` or
    ``config.json``) and is not a town-level folder; a ``name@rev`` snapshot
    folder names the rig ``name``. The role comes from the town layout
    (:func:`layout_role`), else from the file name (:func:`role_from_name`) for
    role templates, role configs, prime output (``kind``), directives and
    ``<role>-CLAUDE.md``.
    """
    parts = _rel_parts(path, root)
    rig, role = layout_role(parts[:-1])
    if rig is None and len(parts) >= 2:
        head = parts[0]
        if head not in TOWN_DIRS and not head.startswith(".") and _looks_like_rig(str(root / head)):
            rig = head.split("@", 1)[0]
    if role is None:
        name = parts[-1] if parts else path.name
        lname = name.lower()
        parent = parts[-2] if len(parts) >= 2 else ""
        if (kind in NAME_ROLE_KINDS or parent == "directives" or lname.endswith("claude.md")):
            role = role_from_name(name)
    return rig, role


def _sniff_first_line(path: Path, limit: int = 65536) -> dict | None:
    """First non-blank line of a JSONL file as a dict, reading at most ``limit`` bytes."""
    try:
        with open(path, "rb") as fh:
            while limit > 0:
                raw = fh.readline(limit)
                if not raw:
                    return None
                limit -= len(raw)
                if raw.strip():
                    if not raw.endswith(b"\n") and limit <= 0:
                        return None   # first line longer than the sniff window
                    obj = json.loads(raw.decode("utf-8"))
                    return obj if isinstance(obj, dict) else None
    except (OSError, ValueError, RecursionError):
        return None
    return None


def jsonl_kind(row: dict) -> str | None:
    """Source kind of a JSONL file from the shape of its first row, or None."""
    if "sessionId" in row or (row.get("type") in TRANSCRIPT_TYPES and ("message" in row or "uuid" in row)):
        return "transcript"
    if "_type" in row or ("id" in row and "title" in row and ("status" in row or "issue_type" in row)):
        return "beads_issue"
    if "event_type" in row and "issue_id" in row:
        return "beads_event"
    if "ts" in row and "type" in row and ("actor" in row or "source" in row):
        return "town_event"
    if set(row) <= {"prefix", "path"} or set(row) <= {"key", "value"}:
        return "beads_config"
    return None


def is_backup_table(path: Path) -> bool:
    """True for ``.../backup/<table>.jsonl`` files of ``bd backup`` (gastown-formats.md §2.2)."""
    return path.parent.name == "backup" and path.name in BACKUP_TABLES


def _classify_kind(path: Path, parts: tuple[str, ...]) -> str | None:
    name = path.name
    lname = name.lower()
    dirs = set(parts[:-1])
    in_beads = ".beads" in dirs
    if lname.endswith((".formula.toml", ".formula.json")):
        return "formula"
    if lname.endswith(".jsonl") and "projects" in dirs and ".claude" in dirs:
        return "transcript"
    if is_backup_table(path):
        return BACKUP_TABLES[name]
    if lname.endswith(".md.tmpl"):
        return "role_template"
    if lname.endswith(".toml"):
        if "formula-overlays" in dirs:
            return "formula_overlay"
        if len(parts) >= 2 and parts[-2] == "roles":
            return "role_config"
        try:
            with open(path, "rb") as fh:
                if OVERLAY_SNIFF.search(fh.read(4096)):
                    return "formula_overlay"
        except OSError:
            return None
        if "hooks" in dirs or SETTINGS_TOML.match(name):
            return "settings"
        return None
    if in_beads:
        if len(parts) >= 2 and parts[-2] == "mq" and lname.endswith(".json"):
            return "merge_request"
        if lname in ("config.yaml", "config.yml", "metadata.json", "backup_state.json", ".installed.json",
                     "routes.jsonl"):
            return "beads_config"
        if lname.startswith("issues.jsonl"):   # issues.jsonl and bd's leftover issues.jsonl.new
            return "beads_issue"
    if lname in (".events.jsonl", ".feed.jsonl"):
        return "town_event"
    if lname == "issues.jsonl":
        return "beads_issue"
    if lname.endswith(".jsonl"):
        row = _sniff_first_line(path)
        return jsonl_kind(row) if row is not None else None
    if lname.endswith((".txt", ".md")) and (name == "PRIME.md" or PRIME_NAME.search(name)
                                            or ("prime" in dirs and "logs" in dirs)):
        return "prime_output"
    if path.suffix.lower() in MARKDOWN_EXTS:
        if lname in INSTRUCTION_NAMES or lname.endswith(("-claude.md", "_claude.md")):
            return "claude_md"
        if dirs & INSTRUCTION_DIRS:
            return "claude_md"
        return "doc"
    if lname.endswith(".json.tmpl"):
        return "settings"
    if lname.endswith(".json"):
        if dirs & SETTINGS_DIRS or SETTINGS_JSON.match(name):
            return "settings"
        return None
    return None


def classify(path: Path, root: Path) -> tuple[str | None, str | None, str | None]:
    """Classify one file.

    Args:
        path: the file (absolute or relative to the CWD).
        root: the folder the walk started from (town root, repo copy, ...);
            rig and role are read from ``path`` relative to it.

    Returns:
        ``(source_kind, rig, role)``: ``source_kind`` is one of
        ``schema.SOURCE_KINDS`` or None when the file is to be skipped; backup
        tables ``dependencies/labels/comments.jsonl`` classify as
        ``beads_issue`` (they are joined onto the issues, §2.2). ``rig`` and
        ``role`` are None when unknown.
    """
    parts = _rel_parts(path, root)
    kind = _classify_kind(path, parts)
    if kind is None:
        return None, None, None
    rig, role = rig_and_role(path, root, kind)
    return kind, rig, role


def skip_reason(path: Path) -> str:
    """Deterministic reason label for a skipped file (``ext:.go``, ``name:LICENSE``)."""
    suffix = path.suffix.lower()
    return f"ext:{suffix}" if suffix else f"name:{path.name}"


def walk_files(paths: Iterable[Path], skipped: SkipCounter) -> Iterator[tuple[Path, Path]]:
    """Yield ``(file, root)`` for every regular file under ``paths``, sorted, once each.

    A file given directly is yielded with its parent as root. Folders in
    :data:`SKIP_DIRS` are pruned and counted as ``dir:<name>``; symlinked
    folders are not followed. Missing paths are counted as ``missing``.
    """
    seen: set[Path] = set()
    for start in paths:
        start = Path(start).expanduser().absolute()
        if start.is_file():
            if start.resolve() not in seen:
                seen.add(start.resolve())
                yield start, start.parent
            continue
        if not start.is_dir():
            skipped["missing"] += 1
            continue
        for dirpath, dirnames, filenames in os.walk(start):
            keep = []
            for d in sorted(dirnames):
                if d in SKIP_DIRS:
                    skipped[f"dir:{d}"] += 1
                else:
                    keep.append(d)
            dirnames[:] = keep
            for fname in sorted(filenames):
                fpath = Path(dirpath) / fname
                real = fpath.resolve()
                if real in seen:
                    skipped["duplicate path"] += 1
                    continue
                seen.add(real)
                if not fpath.is_file():
                    skipped["not a regular file"] += 1
                    continue
                yield fpath, start



def role_from_actor(actor: object) -> tuple[str | None, str | None]:
    """(rig, role) from a Gas Town actor / mail address (gastown-formats.md §2.2, §3.1).

    ``mayor``/``mayor/`` → mayor, ``deacon`` → deacon, ``deacon/boot`` or
    ``deacon-boot`` → boot, ``dog``/``deacon/dogs/<n>`` → dog, ``<rig>/witness``,
    ``<rig>/refinery``, ``<rig>/polecats/<n>``, ``<rig>/crew/<n>``. Humans
    (``stevey``), emails and unknown strings give ``(None, None)``.
    """
    if not isinstance(actor, str) or not actor or "@" in actor:
        return None, None
    text = actor.strip().strip("/")
    if text in ("deacon-boot", "deacon/boot", "boot"):
        return None, "boot"
    if text in ("mayor", "deacon", "dog"):
        return None, text
    parts = text.split("/")
    if parts[0] == "deacon" and len(parts) >= 3 and parts[1] == "dogs":
        return None, "boot" if parts[2] == "boot" else "dog"
    if len(parts) >= 2:
        rig, sub = parts[0], parts[1]
        if sub in ("witness", "refinery"):
            return rig, sub
        if sub == "polecats" and len(parts) >= 3:
            return rig, "polecat"
        if sub == "crew" and len(parts) >= 3:
            return rig, "crew"
    return None, None
