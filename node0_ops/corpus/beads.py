"""Beads JSONL in all three dialects, normalized on ``id`` into one issue payload.

Usage::

    from node0_ops.corpus.beads import normalize_issue, detect_dialect, parse_headers
    payload = normalize_issue(row, detect_dialect(row))

Dialects (``shared/docs/gastown-formats.md`` §2.2 and §6):

- ``export`` (current ``bd export``): ``_type`` and/or ``dependency_count``,
  ``dependent_count``, ``comment_count``; embedded labels/dependencies/comments;
  bools; ``metadata`` as an object.
- ``backup`` (``bd backup``, ``.beads/backup/<table>.jsonl``): one file per table
  joined here on ``issue_id``; ints for bools, ``metadata`` as a JSON string,
  empty strings for absent values.
- ``legacy`` (bd ≤ 0.4x, pre-Dolt): embedded dependencies, no counts, tombstone
  rows (``status=tombstone`` + ``deleted_at/deleted_by/delete_reason/original_type``),
  ``priority`` omitted when 0 (Go omitempty), ``wisp`` as the old name of ``ephemeral``.

Issue payload (every dialect)::

    {id, title, description, status, priority: int, issue_type, labels: [str],
     dependencies: [{issue_id, depends_on_id, type}], comments: [dict],
     assignee, owner, created_by, created_at, updated_at, closed_at, close_reason,
     ephemeral: bool, tombstone: bool, dialect, headers: {key: value}, extra: {...}}

Dependency direction: ``issue_id`` depends on (is blocked by) ``depends_on_id``
(§2.1). ``extra`` keeps every other field (null values omitted, like bd's
omitempty): unknown fields are kept, never a reason to quarantine.
"""

import json
import re

from node0_ops.corpus.readers import FileInfo, FileRejected, iter_jsonl
from node0_ops.corpus.schema import QuarantineEntry, Record
from node0_ops.corpus.sources import role_from_actor

DIALECTS = ("export", "backup", "legacy")
EXPORT_MARKERS = ("_type", "dependency_count", "dependent_count", "comment_count")
BACKUP_BOOL_COLUMNS = ("pinned", "is_template", "no_history")
STRING_FIELDS = ("title", "description", "status", "issue_type", "assignee", "owner", "created_by",
                 "created_at", "updated_at", "closed_at", "close_reason")
EVENT_FIELDS = ("id", "issue_id", "event_type", "actor", "old_value", "new_value", "comment", "created_at")
HEADER_LINE = re.compile(r"^([a-z][a-z0-9_]*):(?:[ \t]+(.*?))?[ \t]*$")


class BeadsRowError(ValueError):
    """A beads row that cannot become a record (e.g. no ``id``); message says why."""


def detect_dialect(row: dict, *, backup_table: bool = False) -> str:
    """Dialect of a beads issue row: ``backup`` (file in ``backup/`` or ``metadata`` as a
    string / ``content_hash`` with int ``ephemeral``), ``export`` (``_type`` or count
    fields), else ``legacy`` (§2.2)."""
    if backup_table:
        return "backup"
    if any(k in row for k in EXPORT_MARKERS):
        return "export"
    if isinstance(row.get("metadata"), str) or ("content_hash" in row and isinstance(row.get("ephemeral"), int)
                                                 and not isinstance(row.get("ephemeral"), bool)):
        return "backup"
    return "legacy"


def parse_headers(description: str | None) -> dict:
    """``key: value`` header lines of a description (§2.2 "Structured header lines").

    A paragraph (lines between blank lines) counts only when every line is a
    snake_case ``key: value`` line, so prose and code blocks are ignored. The
    first value of a key wins; ``null`` and empty values become None.
    """
    headers: dict = {}
    if not description:
        return headers
    for para in re.split(r"\n[ \t]*\n", description):
        lines = [ln for ln in para.strip("\n").split("\n") if ln.strip()]
        matches = [HEADER_LINE.match(ln.strip()) for ln in lines]
        if not lines or not all(matches):
            continue
        for m in matches:
            value = m.group(2)
            headers.setdefault(m.group(1), None if value in (None, "", "null") else value)
    return headers


def _to_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _priority(value: object, extra: dict) -> int | None:
    if value is None:
        return 0   # omitted priority is the Go zero value (omitempty in legacy data)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[Pp]?[0-9]", value.strip()):
        return int(value.strip().lstrip("Pp"))
    extra["priority_raw"] = value
    return None


def _dependencies(raw: object, iid: str, extra: dict) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        extra["dependencies_raw"] = raw
        return []
    deps, bad = [], []
    for dep in raw:
        if isinstance(dep, dict) and dep.get("depends_on_id"):
            deps.append({"issue_id": dep.get("issue_id") or iid, "depends_on_id": dep["depends_on_id"],
                         "type": dep.get("type") or "blocks"})
        else:
            bad.append(dep)
    if bad:
        extra["dependencies_invalid"] = bad
    return deps


def normalize_issue(row: dict, dialect: str, *, labels: list | None = None,
                    dependencies: list | None = None, comments: list | None = None) -> dict:
    """Normalize one beads issue row into the payload shape of the module docstring.

    Args:
        row: the parsed JSON object (not modified).
        dialect: one of :data:`DIALECTS` (see :func:`detect_dialect`).
        labels/dependencies/comments: joined backup-table rows for this issue
            (``backup`` dialect); embedded arrays are used otherwise.

    Raises:
        BeadsRowError: the row has no non-empty string ``id``.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"dialect={dialect!r} is not one of {DIALECTS}")
    src = {k: (None if v == "" else v) for k, v in row.items()} if dialect == "backup" else dict(row)
    iid = src.pop("id", None)
    if not isinstance(iid, str) or not iid.strip():
        raise BeadsRowError(f"beads issue row has no 'id' (keys: {sorted(row)[:8]})")
    src.pop("_type", None)
    extra: dict = {}
    out: dict = {"id": iid}
    for key in STRING_FIELDS:
        out[key] = src.pop(key, None)
    out["priority"] = _priority(src.pop("priority", None), extra)
    raw_labels = labels if labels is not None else src.pop("labels", None)
    src.pop("labels", None)
    if raw_labels is not None and not isinstance(raw_labels, list):
        extra["labels_raw"], raw_labels = raw_labels, None
    out["labels"] = [str(x) for x in raw_labels or []]
    raw_deps = dependencies if dependencies is not None else src.pop("dependencies", None)
    src.pop("dependencies", None)
    out["dependencies"] = _dependencies(raw_deps, iid, extra)
    raw_comments = comments if comments is not None else src.pop("comments", None)
    src.pop("comments", None)
    out["comments"] = [c for c in raw_comments or [] if isinstance(c, dict)] if isinstance(raw_comments, list) else []
    eph, wisp = src.pop("ephemeral", None), src.pop("wisp", None)
    out["ephemeral"] = _to_bool(eph) or _to_bool(wisp)
    out["tombstone"] = out["status"] == "tombstone" or bool(src.get("deleted_at"))
    out["dialect"] = dialect
    out["headers"] = parse_headers(out["description"] if isinstance(out["description"], str) else None)
    if isinstance(src.get("metadata"), str):
        try:
            src["metadata"] = json.loads(src["metadata"])
        except ValueError:
            pass   # kept as the original string in extra
    if dialect == "backup":
        for key in BACKUP_BOOL_COLUMNS:
            if isinstance(src.get(key), int):
                src[key] = bool(src[key])
    extra.update({k: v for k, v in src.items() if v is not None})
    out["extra"] = extra
    return out


def _issue_record(info: FileInfo, lineno: int, offset: int, payload: dict) -> Record:
    rig, role = role_from_actor(payload.get("assignee"))
    return Record("beads_issue", f"bead:{payload['id']}", payload,
                  info.prov(lineno, offset, rig=rig or info.rig, role=role or info.role))


def collect_issues_jsonl(info: FileInfo, max_line_bytes: int) -> tuple[list[Record], list[QuarantineEntry]]:
    """``beads_issue`` Records of an export or legacy ``issues.jsonl`` (one per row).

    The dialect is detected once per file from its first issue row. ``{"_type":
    "memory"}`` lines of ``bd export --include-memories`` become ``beads_config``
    records ``{key, value, memory: true}``. Bad lines and rows without ``id``
    are quarantined as ``line N``; the rest of the file is kept.
    """
    pending, quarantine = [], []
    dialect = None
    try:
        for ln in iter_jsonl(info, max_line_bytes):
            if ln.error:
                quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
                continue
            row = ln.obj
            if row.get("_type") == "memory":
                pending.append((ln, "memory", {"key": row.get("key"), "value": row.get("value"), "memory": True}))
                continue
            dialect = dialect or detect_dialect(row)
            try:
                pending.append((ln, "issue", normalize_issue(row, dialect)))
            except BeadsRowError as exc:
                quarantine.append(info.quarantine(f"line {ln.lineno}", str(exc)))
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    records = []
    for ln, what, payload in pending:
        if what == "memory":
            records.append(Record("beads_config", f"file:{info.rel}", payload,
                                  info.prov(ln.lineno, ln.offset, kind="beads_config")))
        else:
            records.append(_issue_record(info, ln.lineno, ln.offset, payload))
    return records, quarantine


def _load_table(info: FileInfo, max_line_bytes: int, required: tuple[str, ...],
                quarantine: list[QuarantineEntry]) -> list[tuple[int, dict]]:
    rows = []
    try:
        for ln in iter_jsonl(info, max_line_bytes, allow_empty=True):
            if ln.error:
                quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
            elif missing := [k for k in required if not ln.obj.get(k)]:
                quarantine.append(info.quarantine(f"line {ln.lineno}",
                                                  f"backup {info.path.name} row has no {', '.join(missing)}"))
            else:
                rows.append((ln.lineno, {k: (None if v == "" else v) for k, v in ln.obj.items()}))
    except FileRejected as exc:
        quarantine.append(info.quarantine(exc.position, exc.reason))
    return rows


TABLE_KEYS = {"dependencies.jsonl": ("issue_id", "depends_on_id"), "labels.jsonl": ("issue_id", "label"),
              "comments.jsonl": ("issue_id",)}
BACKUP_JOIN_FILES = frozenset({"issues.jsonl", *TABLE_KEYS})   # one unit per backup folder


def collect_backup(tables: dict[str, FileInfo], max_line_bytes: int
                   ) -> tuple[list[Record], list[QuarantineEntry], dict[str, int]]:
    """Join one ``bd backup`` folder's tables into ``beads_issue`` Records (§2.2 per-table backup).

    Args:
        tables: file name (``issues.jsonl``, ``dependencies.jsonl``,
            ``labels.jsonl``, ``comments.jsonl``) → FileInfo, all from one folder.

    Returns:
        (records, quarantine, rows joined per table file name). Table rows whose
        ``issue_id`` is not in ``issues.jsonl`` are quarantined ("references
        issue X not present in issues.jsonl"), never dropped silently.
    """
    quarantine: list[QuarantineEntry] = []
    joined = {name: {} for name in TABLE_KEYS}
    loaded = {}
    for name, required in TABLE_KEYS.items():
        if name in tables:
            loaded[name] = _load_table(tables[name], max_line_bytes, required, quarantine)
            for lineno, row in loaded[name]:
                joined[name].setdefault(row["issue_id"], []).append(row)
    used = {name: 0 for name in TABLE_KEYS}
    records: list[Record] = []
    issue_ids: set[str] = set()
    info = tables.get("issues.jsonl")
    if info is not None:
        pending = []
        try:
            for ln in iter_jsonl(info, max_line_bytes, allow_empty=True):
                if ln.error:
                    quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
                    continue
                iid = ln.obj.get("id")
                deps = joined["dependencies.jsonl"].get(iid, [])
                labels = [r["label"] for r in joined["labels.jsonl"].get(iid, [])]
                comments = joined["comments.jsonl"].get(iid, [])
                try:
                    payload = normalize_issue(ln.obj, "backup", labels=labels, dependencies=deps, comments=comments)
                except BeadsRowError as exc:
                    quarantine.append(info.quarantine(f"line {ln.lineno}", str(exc)))
                    continue
                if iid not in issue_ids:
                    used["dependencies.jsonl"] += len(deps)
                    used["labels.jsonl"] += len(labels)
                    used["comments.jsonl"] += len(comments)
                issue_ids.add(iid)
                pending.append((ln, payload))
        except FileRejected as exc:
            quarantine.append(info.quarantine(exc.position, exc.reason))
        records = [_issue_record(info, ln.lineno, ln.offset, p) for ln, p in pending]
    for name, rows in loaded.items():
        for lineno, row in rows:
            if row["issue_id"] not in issue_ids:
                quarantine.append(tables[name].quarantine(
                    f"line {lineno}", f"backup {name} row references issue {row['issue_id']!r} "
                                      "not present in issues.jsonl"))
    return records, quarantine, used


def _maybe_json(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def collect_events(info: FileInfo, max_line_bytes: int) -> tuple[list[Record], list[QuarantineEntry]]:
    """``beads_event`` Records from backup ``events.jsonl`` (§2.1 Event, §4).

    Payload ``{id, issue_id, event_type, actor, old_value, new_value, comment,
    created_at, extra}``; ``old_value``/``new_value`` JSON strings are parsed.
    source_key ``bead:<issue_id>``; rig/role from the actor. Rows without
    ``issue_id`` or ``event_type`` are quarantined.
    """
    pending, quarantine = [], []
    try:
        for ln in iter_jsonl(info, max_line_bytes, allow_empty=True):
            if ln.error:
                quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
                continue
            row = {k: (None if v == "" else v) for k, v in ln.obj.items()}
            if not row.get("issue_id") or not row.get("event_type"):
                quarantine.append(info.quarantine(f"line {ln.lineno}", "beads event row has no issue_id/event_type"))
                continue
            payload = {k: row.pop(k, None) for k in EVENT_FIELDS}
            payload["old_value"] = _maybe_json(payload["old_value"])
            payload["new_value"] = _maybe_json(payload["new_value"])
            payload["extra"] = {k: v for k, v in row.items() if v is not None}
            pending.append((ln, payload))
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    records = []
    for ln, payload in pending:
        rig, role = role_from_actor(payload["actor"])
        records.append(Record("beads_event", f"bead:{payload['issue_id']}", payload,
                              info.prov(ln.lineno, ln.offset, rig=rig or info.rig, role=role or info.role)))
    return records, quarantine


def collect_config_rows(info: FileInfo, max_line_bytes: int) -> tuple[list[Record], list[QuarantineEntry]]:
    """``beads_config`` Records, one per JSONL row (backup ``config.jsonl`` ``{key, value}``,
    ``routes.jsonl`` ``{prefix, path}``); payload = the row; source_key ``file:<rel path>``."""
    pending, quarantine = [], []
    try:
        for ln in iter_jsonl(info, max_line_bytes, allow_empty=True):
            if ln.error:
                quarantine.append(info.quarantine(f"line {ln.lineno}", ln.error))
            else:
                pending.append(ln)
    except FileRejected as exc:
        return [], [info.quarantine(exc.position, exc.reason)]
    return [Record("beads_config", f"file:{info.rel}", ln.obj, info.prov(ln.lineno, ln.offset))
            for ln in pending], quarantine
