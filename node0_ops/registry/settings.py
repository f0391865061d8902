"""Edit Gas Town settings JSON in place: keep every other byte, write atomically, back up first.

Gas Town's ``settings/config.json`` files are hand-formatted (2-space indent, short arrays and
small objects inline). Re-dumping them would reformat the whole file, so edits splice only
the members they change: a member's value is replaced where it stands, a new member is added
after the last one at the same indentation, a removed member takes its comma with it. The
result is parsed back and compared with the intended document; if the splice ever disagrees
the file is re-dumped with the detected indent instead (content first, layout second).

Writes are atomic: temp file in the same directory, ``fsync``, ``os.replace``, then the
directory is fsynced. The previous file is copied first to
``<settings dir>/.node0-backups/config.json.<UTC timestamp>``. A lock file in that folder
serializes concurrent writers.

Format: ``shared/docs/gastown-formats.md`` §3.3 (TownSettings / rig settings, RuntimeConfig).

Usage::

    from node0_ops.registry.settings import edit_settings
    result = edit_settings(path, {("agents", "node0-polecat"): entry, ("role_agents", "polecat"): "node0-polecat"},
                           default_type="rig-settings")
    result.backup_path, result.document
"""

import fcntl
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from json.decoder import scanstring
from pathlib import Path
from typing import Any, Callable, Iterator

DELETE = object()  # sentinel value: remove the member
BACKUP_DIR = ".node0-backups"
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class SettingsError(ValueError):
    """A settings file that cannot be edited (not JSON, not an object where one is needed)."""


@dataclass
class Member:
    """One ``"key": value`` of a JSON object, as character offsets into the text."""

    key: str
    key_start: int
    value_start: int
    value_end: int


@dataclass
class ObjectSpan:
    """A JSON object's braces and members (offsets into the text)."""

    open: int
    close: int
    members: list[Member]


def _skip(text: str, i: int) -> int:
    return _WS.match(text, i).end()


def scan_object(text: str, start: int) -> ObjectSpan:
    """Offsets of the object that begins at ``text[start] == '{'`` and of its members.

    Raises:
        SettingsError: when the text there is not a JSON object (with the line number).
    """
    if text[start:start + 1] != "{":
        raise SettingsError(f"expected an object at line {text.count(chr(10), 0, start) + 1}")
    members: list[Member] = []
    i = _skip(text, start + 1)
    if text[i:i + 1] == "}":
        return ObjectSpan(start, i, members)
    while True:
        if text[i:i + 1] != '"':
            raise SettingsError(f"expected a key at line {text.count(chr(10), 0, i) + 1}")
        key, after = scanstring(text, i + 1)
        j = _skip(text, after)
        if text[j:j + 1] != ":":
            raise SettingsError(f"expected ':' at line {text.count(chr(10), 0, j) + 1}")
        vs = _skip(text, j + 1)
        try:
            _, ve = _DECODER.raw_decode(text, vs)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"invalid JSON value for {key!r}: {exc.msg} at line {exc.lineno}") from exc
        members.append(Member(key, i, vs, ve))
        k = _skip(text, ve)
        if text[k:k + 1] == ",":
            i = _skip(text, k + 1)
            continue
        if text[k:k + 1] == "}":
            return ObjectSpan(start, k, members)
        raise SettingsError(f"expected ',' or '}}' at line {text.count(chr(10), 0, k) + 1}")


def _line_indent(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    return _WS.match(text, line_start).group(0).replace("\n", "").replace("\r", "")


def detect_indent(text: str) -> str:
    """Indent unit of a JSON text (the first indented line's leading spaces; 2 spaces default)."""
    m = re.search(r"\n([ \t]+)\S", text)
    return m.group(1) if m else "  "


def _inline_style(text: str) -> bool:
    """True when the file writes some non-empty array/object on one line (``"args": ["a", "b"]``);
    ``json.dumps(indent=...)`` output never does."""
    return re.search(r'[\[{][ \t]*[^\s\]}]', text[1:]) is not None


def render(value: Any, indent: str, unit: str, inline: bool) -> str:
    """JSON for ``value`` placed at indentation ``indent``, in the file's style.

    ``inline``: arrays of scalars and objects of up to two scalar members stay on one line
    (the sample and real Gas Town settings do this); otherwise one member per line.
    """
    scalar = lambda v: not isinstance(v, (dict, list))  # noqa: E731
    if scalar(value):
        return json.dumps(value, ensure_ascii=False)
    if inline and isinstance(value, list) and all(scalar(v) for v in value):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    if inline and isinstance(value, dict) and len(value) <= 2 and all(scalar(v) for v in value.values()):
        one = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()) + "}"
        if len(one) <= 60:
            return one
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    inner = indent + unit
    if isinstance(value, dict):
        body = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {render(v, inner, unit, inline)}" for k, v in value.items()]
        return "{\n" + ",\n".join(body) + "\n" + indent + "}"
    body = [f"{inner}{render(v, inner, unit, inline)}" for v in value]
    return "[\n" + ",\n".join(body) + "\n" + indent + "]"


def _set_member(text: str, obj: ObjectSpan, key: str, value: Any, unit: str, inline: bool) -> str:
    """Return ``text`` with ``obj[key]`` set (replaced in place, or appended) or deleted."""
    found = [m for m in obj.members if m.key == key]
    if value is DELETE:
        if not found:
            return text
        m = found[-1]
        idx = obj.members.index(m)
        if len(obj.members) == 1:
            return text[:obj.open + 1] + text[obj.close:]
        if idx > 0:
            prev = obj.members[idx - 1]
            return text[:prev.value_end] + text[m.value_end:]
        nxt = obj.members[1]
        return text[:m.key_start] + text[nxt.key_start:]
    if found:
        m = found[-1]
        return text[:m.value_start] + render(value, _line_indent(text, m.key_start), unit, inline) + text[m.value_end:]
    if obj.members:
        last = obj.members[-1]
        one_line = "\n" not in text[obj.open:obj.close]
        if one_line:
            member_indent = ""
            sep = ", "
        else:
            member_indent = _line_indent(text, last.key_start)
            sep = ",\n" + member_indent
        rendered = render(value, member_indent, unit, inline)
        return text[:last.value_end] + sep + json.dumps(key, ensure_ascii=False) + ": " + rendered + text[last.value_end:]
    outer = _line_indent(text, obj.open)
    inner = outer + unit
    rendered = render(value, inner, unit, inline)
    return (text[:obj.open + 1] + "\n" + inner + json.dumps(key, ensure_ascii=False) + ": " + rendered
            + "\n" + outer + text[obj.close:])


def apply_edits(text: str, edits: dict[tuple[str, ...], Any]) -> tuple[str, dict]:
    """Apply ``{(key, subkey, ...): value | DELETE}`` to JSON ``text``, keeping its layout.

    Missing intermediate objects are created. Returns ``(new_text, new_document)``.

    Raises:
        SettingsError: the text is not a JSON object, or a path crosses a non-object value.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(doc, dict):
        raise SettingsError(f"top level must be a JSON object, got {type(doc).__name__}")
    expected = json.loads(text)
    for path, value in edits.items():
        node = expected
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is None and value is not DELETE:
                nxt = node[part] = {}
            if nxt is None:
                break
            if not isinstance(nxt, dict):
                raise SettingsError(f"{'.'.join(path[:-1])} is a {type(nxt).__name__}, expected an object")
            node = nxt
        else:
            if value is DELETE:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    unit, inline = detect_indent(text), _inline_style(text)
    new = text
    try:
        for path, value in edits.items():
            obj = scan_object(new, _skip(new, 0))
            for depth, part in enumerate(path[:-1]):
                hits = [m for m in obj.members if m.key == part]
                if not hits:
                    if value is DELETE:
                        obj = None
                        break
                    sub = {path[-1]: value}
                    for back in reversed(path[depth + 1:-1]):
                        sub = {back: sub}
                    new = _set_member(new, obj, part, sub, unit, inline)
                    obj = None
                    break
                obj = scan_object(new, hits[-1].value_start)
            if obj is not None:
                new = _set_member(new, obj, path[-1], value, unit, inline)
        if json.loads(new) != expected:
            raise SettingsError("splice mismatch")
    except (SettingsError, json.JSONDecodeError):
        new = json.dumps(expected, indent=len(unit) if unit.strip(" ") == "" else unit, ensure_ascii=False) + "\n"
    return new, expected


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


@contextmanager
def settings_lock(path: Path) -> Iterator[None]:
    """Exclusive ``fcntl`` lock for writers of one settings file (``.node0-backups/<name>.lock``)."""
    lock_dir = path.parent / BACKUP_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{path.name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: same-dir temp file, fsync, ``os.replace``, dir fsync.

    The original file is untouched if anything fails before the replace; the temp file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def backup(path: Path) -> Path | None:
    """Copy ``path`` to ``.node0-backups/<name>.<UTC timestamp>`` (fsynced); None when it does not exist."""
    if not path.exists():
        return None
    dst = path.parent / BACKUP_DIR / f"{path.name}.{_utc_stamp()}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, dst)
    with open(dst, "rb") as fh:
        os.fsync(fh.fileno())
    return dst


@dataclass
class EditResult:
    """Outcome of :func:`edit_settings`: the file, its backup (None for a new file), the
    document before and after, and whether anything changed."""

    path: Path
    backup_path: Path | None
    before: dict
    document: dict
    changed: bool


def edit_settings(path: str | os.PathLike, edits: dict[tuple[str, ...], Any] | Callable[[dict], dict], *,
                  default_type: str | None = "town-settings") -> EditResult:
    """Apply ``edits`` to a settings file under its lock, with backup and atomic replace.

    ``edits`` is ``{(key, subkey, ...): value | DELETE}`` or a function of the current document
    returning that (evaluated under the lock, so read-modify-write is race free). A missing
    file is created as ``{"type": default_type, "version": 1, ...}``, or as ``{...}`` when
    ``default_type`` is None (a Claude Code ``settings.json``).

    Raises:
        SettingsError: naming the file when it is not a JSON object.
    """
    p = Path(path)
    with settings_lock(p):
        existed = p.exists()
        empty = {"type": default_type, "version": 1} if default_type else {}
        text = p.read_text(encoding="utf-8") if p.exists() else json.dumps(empty, indent=2) + "\n"
        try:
            before = json.loads(text)
            if not isinstance(before, dict):
                raise SettingsError(f"top level must be a JSON object, got {type(before).__name__}")
            new, doc = apply_edits(text, edits(before) if callable(edits) else edits)
        except (SettingsError, json.JSONDecodeError) as exc:
            raise SettingsError(f"{p}: {exc}") from exc
        if existed and new == text:
            return EditResult(p, None, before, doc, False)
        bak = backup(p)
        atomic_write(p, new)
    return EditResult(p, bak, before if existed else {}, doc, True)
