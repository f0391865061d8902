"""Collect stage: read every Gas Town source file into :class:`~node0_ops.corpus.schema.Record`s.

Usage::

    from node0_ops.corpus.collect import collect_town, collect_paths, classify, summarize
    result = collect_town(Path("~/gt").expanduser())            # + ~/.claude/projects sessions
    result = collect_paths([Path("../shared/gastown-real")])     # copied gt/bd repositories
    summarize(result)   # {"records_by_kind": {...}, "quarantine_by_reason": {...}, "skipped": {...}}

What is read (``shared/docs/gastown-formats.md``): formulas and overlays (§1),
beads JSONL in the export/backup/legacy dialects, backup events/config, merge
requests (§2.2), role templates, role configs, CLAUDE.md/AGENTS.md/skills,
settings (§3), town events/feed and Claude Code transcripts (§4), docs, and
saved ``gt prime`` output. :func:`classify` decides the kind of each file.

Payload shapes (kind → payload; source_key), details in the named module:

- ``transcript``: ``{session_id, cwd, n_lines, entries: [{line, type, timestamp, role,
  content: [blocks as in the file], uuid?, parent_uuid?, is_sidechain?, model?}]}``;
  ``session:<uuid>`` (:mod:`.transcripts`).
- ``formula``: ``{name, type, type_inferred, version, description, vars, steps, legs,
  template, advice, pointcuts, extends, compose, raw}``; ``formula:<name>`` (:mod:`.formulas`).
- ``formula_overlay``: ``{name, step_overrides: [{step_id, mode, description?}], raw}``;
  ``formula:<name>``.
- ``beads_issue``: ``{id, title, description, status, priority: int, issue_type, labels,
  dependencies: [{issue_id, depends_on_id, type}], comments, assignee, owner, created_by,
  created_at, updated_at, closed_at, close_reason, ephemeral: bool, tombstone: bool,
  dialect: export|backup|legacy, headers: {key: value}, extra: {...}}``; ``bead:<id>`` (:mod:`.beads`).
- ``beads_event``: ``{id, issue_id, event_type, actor, old_value, new_value, comment,
  created_at, extra}``; ``bead:<issue_id>``.
- ``beads_config``: a JSONL row (``{key, value}``, ``{prefix, path}``, ``{key, value,
  memory: true}``) or ``{data, text}`` for config.yaml/metadata.json; ``file:<rel path>``.
- ``merge_request``: the ``.beads/mq/*.json`` object; ``bead:<id>``.
- ``town_event``: the ``.events.jsonl``/``.feed.jsonl`` object; ``bead:<payload.bead>``
  or ``file:<rel path>`` (:mod:`.documents`).
- ``doc``, ``claude_md``, ``role_template``, ``prime_output``: ``{text, title,
  front_matter?}``; ``file:<rel path>``.
- ``role_config``: ``{role, data, text}``; ``settings``: ``{data, text, templated}``;
  ``file:<rel path>``.

``<rel path>`` is relative to the folder that was walked (the town root, or
each path given to :func:`collect_paths`). Every record's provenance carries
the absolute path, the file's sha256, the 1-based line and byte offset (JSONL;
whole-file records have offset 0), the kind, and rig/role when known.

Bad input never stops a run: each bad line or file becomes a
:class:`~node0_ops.corpus.schema.QuarantineEntry` (path, ``line 17`` / ``byte 0`` /
``whole file``, what is wrong) and everything good around it is kept. JSONL
is streamed; a line over ``max_line_bytes`` is skipped through without being
held in memory. Irrelevant files (images, Go source, LICENSE, ...) are skipped
silently and counted by reason (:func:`last_skip_counts`).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from node0_ops.corpus import beads, documents, formulas, transcripts
from node0_ops.corpus.readers import FileInfo, sha256_file
from node0_ops.corpus.schema import CollectResult, QuarantineEntry, Record, SourceFile
from node0_ops.corpus.sources import (SkipCounter, classify, clear_caches, is_backup_table, skip_reason,
                                      walk_files)

__all__ = ["collect_town", "collect_paths", "classify", "summarize", "last_skip_counts"]

DEFAULT_MAX_LINE_BYTES = 8_000_000
_LAST_SKIPPED: dict[str, int] = {}

_HANDLERS = {
    "formula": formulas.collect_formula,
    "formula_overlay": formulas.collect_overlay,
    "doc": documents.collect_markdown,
    "claude_md": documents.collect_markdown,
    "role_template": documents.collect_markdown,
    "prime_output": documents.collect_markdown,
    "role_config": documents.collect_structured,
    "settings": documents.collect_structured,
    "merge_request": documents.collect_merge_request,
    "town_event": documents.collect_town_events,
    "beads_event": beads.collect_events,
    "beads_issue": beads.collect_issues_jsonl,
}


def last_skip_counts() -> dict[str, int]:
    """Skip counts by reason (``ext:.go``, ``name:LICENSE``, ``dir:.git``,
    ``transcript outside town``, ...) of the most recent collect call in this process."""
    return dict(_LAST_SKIPPED)


def _handle(info: FileInfo, max_line_bytes: int, town_root: Path | None
            ) -> tuple[list[Record], list[QuarantineEntry]]:
    if info.kind == "transcript":
        return transcripts.collect_transcript(info, max_line_bytes, town_root)
    if info.kind == "beads_config":
        if info.path.name.lower().endswith(".jsonl"):
            return beads.collect_config_rows(info, max_line_bytes)
        return documents.collect_structured(info, max_line_bytes)
    return _HANDLERS[info.kind](info, max_line_bytes)


def _is_backup_join(info: FileInfo) -> bool:
    return info.kind == "beads_issue" and is_backup_table(info.path) and info.path.name in beads.BACKUP_JOIN_FILES


def _source(info: FileInfo, n_records: int, n_quarantined: int) -> SourceFile:
    if not info.sha256:
        try:
            info.sha256, info.size = sha256_file(info.path)
        except OSError:
            pass
    return SourceFile(str(info.path), info.sha256, info.size, info.kind, info.rig, info.role,
                      n_records, n_quarantined)


def _run_unit(unit: list[FileInfo], max_line_bytes: int, town_root: Path | None) -> CollectResult:
    """Collect one file, or one ``bd backup`` folder (its tables are joined together)."""
    out = CollectResult()
    joined: dict[str, int] = {}
    try:
        if _is_backup_join(unit[0]):
            records, quarantine, joined = beads.collect_backup({i.path.name: i for i in unit}, max_line_bytes)
        else:
            records, quarantine = _handle(unit[0], max_line_bytes, town_root)
    except OSError as exc:
        records, quarantine = [], [i.quarantine("whole file", f"unreadable: {type(exc).__name__}: {exc}")
                                   for i in unit]
    out.records, out.quarantine = records, quarantine
    rec_count = Counter(r.provenance.path for r in records)
    q_count = Counter(q.path for q in quarantine)
    for info in unit:
        key = str(info.path)
        out.sources.append(_source(info, rec_count[key] + joined.get(info.path.name, 0), q_count[key]))
    return out


def _plan(files: list[tuple[Path, Path, str | None]], skipped: SkipCounter) -> list[list[FileInfo]]:
    """Classify files into work units; backup tables of one folder form one unit."""
    units: list[list[FileInfo]] = []
    backup_units: dict[Path, list[FileInfo]] = {}
    for path, root, forced in files:
        if forced:
            kind, rig, role = forced, None, None
        else:
            kind, rig, role = classify(path, root)
        if kind is None:
            skipped[skip_reason(path)] += 1
            continue
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.name
        info = FileInfo(path, kind, rig, role, rel)
        if not forced and _is_backup_join(info):
            if path.parent not in backup_units:
                backup_units[path.parent] = []
                units.append(backup_units[path.parent])
            backup_units[path.parent].append(info)
        else:
            units.append([info])
    return units


def _collect(files: list[tuple[Path, Path, str | None]], town_root: Path | None, max_line_bytes: int,
             skipped: SkipCounter, home: frozenset[Path] = frozenset()) -> CollectResult:
    result = CollectResult()
    for unit in _plan(files, skipped):
        part = _run_unit(unit, max_line_bytes, town_root)
        info = unit[0]
        if info.path in home and town_root is not None and part.records:
            cwd = part.records[0].payload.get("cwd")
            if cwd and not _is_under(Path(cwd), town_root):
                skipped["transcript outside town"] += 1
                continue
        result.extend(part)
    _LAST_SKIPPED.clear()
    _LAST_SKIPPED.update(sorted(skipped.items()))
    if "skipped" in {f.name for f in fields(CollectResult)}:
        result.skipped = dict(_LAST_SKIPPED)   # when schema.CollectResult grows the field
    return result


def _is_under(path: Path, root: Path) -> bool:
    return any(path == r or r in path.parents for r in (root, root.resolve()))


def _start_run(max_line_bytes: object) -> None:
    """Validate the arguments shared by both entry points and reset per-run caches."""
    clear_caches()
    if isinstance(max_line_bytes, bool) or not isinstance(max_line_bytes, int) or max_line_bytes <= 0:
        raise ValueError(f"max_line_bytes={max_line_bytes!r} must be a positive int (bytes), e.g. 8_000_000")


def collect_paths(paths: Sequence[Path], transcript_dirs: Sequence[Path] = (), *,
                  town_root: Path | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> CollectResult:
    """Collect arbitrary files and folders (copied gt/bd repositories, extra docs).

    Args:
        paths: files or folders; folders are walked (sorted, VCS/cache folders
            pruned). Rig and role are read relative to each given folder.
        transcript_dirs: folders (or files) whose every ``*.jsonl`` is a Claude
            Code session, whatever its name.
        town_root: when known, anchors role inference of transcript cwds.
        max_line_bytes: longest JSONL line (and largest whole-file record) parsed;
            longer ones are quarantined.

    Returns:
        CollectResult with records, quarantine and one SourceFile per collected file.

    Raises:
        ValueError: ``max_line_bytes`` is not a positive int.
    """
    _start_run(max_line_bytes)
    skipped = SkipCounter()
    files: list[tuple[Path, Path, str | None]] = [(p, r, None) for p, r in walk_files(paths, skipped)]
    seen = {p.resolve() for p, _, _ in files}
    for t in transcripts.find_transcripts_in(transcript_dirs):
        if t.resolve() not in seen:
            seen.add(t.resolve())
            files.append((t.absolute(), t.parent.absolute(), "transcript"))
    root = Path(town_root).absolute() if town_root is not None else None
    return _collect(files, root, max_line_bytes, skipped)


def collect_town(town_root: Path, extra_paths: Sequence[Path] = (), transcript_dirs: Sequence[Path] = (), *,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> CollectResult:
    """Collect a whole Gas Town: the town tree, extra paths and the town's Claude sessions.

    Sessions are read from ``<town>/.claude/projects/`` (found by the walk),
    from ``$CLAUDE_CONFIG_DIR/projects`` or ``~/.claude/projects`` for project
    folders whose mangled cwd starts with the mangled town root (a session
    whose own ``cwd`` is outside the town is then skipped, counted as
    ``transcript outside town``), and from every ``*.jsonl`` in ``transcript_dirs``.

    Raises:
        FileNotFoundError: ``town_root`` is not a folder (set GT_ROOT or pass the town).
        ValueError: ``max_line_bytes`` is not a positive int.
    """
    _start_run(max_line_bytes)
    town = Path(town_root).expanduser().absolute()
    if not town.is_dir():
        raise FileNotFoundError(f"town root {town} is not a directory: pass your Gas Town folder "
                                "(the one holding CLAUDE.md, settings/ and the rigs)")
    skipped = SkipCounter()
    files: list[tuple[Path, Path, str | None]] = [(p, r, None) for p, r in walk_files([town, *extra_paths], skipped)]
    seen = {p.resolve() for p, _, _ in files}
    home = set()
    for group, found in (("dirs", transcripts.find_transcripts_in(transcript_dirs)),
                         ("home", transcripts.find_home_transcripts(town))):
        for t in found:
            if t.resolve() not in seen:
                seen.add(t.resolve())
                files.append((t.absolute(), t.parent.absolute(), "transcript"))
                if group == "home":
                    home.add(t.absolute())
    return _collect(files, town, max_line_bytes, skipped, frozenset(home))


def summarize(result: CollectResult) -> dict:
    """Counts for reports and asset metadata.

    Returns:
        ``{"records_by_kind": {kind: n}, "quarantine_by_reason": {reason head: n},
        "quarantine_by_kind": {kind: n}, "n_sources": int, "skipped": {reason: n}}``;
        the reason head is the text before the first ``:`` (e.g. ``invalid JSON``).
    """
    return {
        "records_by_kind": dict(sorted(Counter(r.kind for r in result.records).items())),
        "quarantine_by_reason": dict(sorted(Counter(q.reason.split(":", 1)[0] for q in result.quarantine).items())),
        "quarantine_by_kind": dict(sorted(Counter(q.source_kind for q in result.quarantine).items())),
        "n_sources": len(result.sources),
        "skipped": last_skip_counts(),
    }
