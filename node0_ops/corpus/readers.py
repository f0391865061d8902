"""Safe, streaming readers shared by the collectors: whole text files and JSONL.

Usage::

    info = FileInfo(path, kind="doc", rig=None, role=None)
    text = read_text(info, max_bytes=8_000_000)        # sets info.sha256, raises FileRejected
    for ln in iter_jsonl(info, max_line_bytes=8_000_000):   # streams, hashes as it goes
        if ln.error: ... else: ln.obj                  # info.sha256 is set after the loop

Bad input never raises out of a line iterator: each bad line comes back with
``error`` set (what is wrong, e.g. ``invalid JSON: Unterminated string ... at
col 41``) so the caller quarantines it and keeps going. Whole-file problems
(empty, binary, invalid UTF-8, too large) raise :class:`FileRejected` with a
position and reason.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from node0_ops.corpus.schema import Provenance, QuarantineEntry

SNIFF_BYTES = 8192
HASH_CHUNK = 1 << 20


class FileRejected(Exception):
    """A whole file cannot be collected (empty, binary, undecodable, too large, unparsable).

    Attributes:
        position: e.g. ``whole file``, ``byte 1234``, ``line 3``.
        reason: what is wrong, for the quarantine table.
    """

    def __init__(self, position: str, reason: str):
        super().__init__(f"{position}: {reason}")
        self.position = position
        self.reason = reason


@dataclass
class FileInfo:
    """One classified file being collected; ``sha256``/``size`` are filled by the readers."""

    path: Path
    kind: str
    rig: str | None = None
    role: str | None = None
    rel: str = ""
    sha256: str = ""
    size: int = 0

    def prov(self, line: int | None = None, offset: int | None = None, *, kind: str | None = None,
             rig: str | None = None, role: str | None = None) -> Provenance:
        """Provenance for a record of this file; ``rig``/``role`` override the path-derived ones."""
        return Provenance(str(self.path), self.sha256, line, offset, kind or self.kind,
                          rig if rig is not None else self.rig, role if role is not None else self.role)

    def quarantine(self, position: str, reason: str, kind: str | None = None) -> QuarantineEntry:
        return QuarantineEntry(str(self.path), position, reason, kind or self.kind)


class JsonlLine(NamedTuple):
    """One non-blank JSONL line: ``obj`` (a dict) or ``error`` (a reason string)."""

    lineno: int
    offset: int
    obj: dict | None
    error: str | None


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def json_error(exc: json.JSONDecodeError) -> str:
    """``invalid JSON: <msg> at line L col C`` (line only when the text has several)."""
    where = f"line {exc.lineno} col {exc.colno}" if exc.lineno > 1 else f"col {exc.colno}"
    sep = " " if exc.msg.endswith(" at") else " at "   # "Unterminated string starting at"
    return f"invalid JSON: {exc.msg}{sep}{where}"


def utf8_error(data: bytes, exc: UnicodeDecodeError) -> str:
    bad = data[exc.start:exc.start + 1].hex()
    return f"invalid UTF-8 at byte {exc.start} (0x{bad}): {exc.reason}"


def read_text(info: FileInfo, max_bytes: int) -> str:
    """Read a whole file as strict UTF-8 text; sets ``info.sha256`` and ``info.size``.

    Raises:
        FileRejected: the file is empty (or whitespace only), larger than
            ``max_bytes`` (a whole-file record cannot exceed the line cap),
            binary (a NUL byte), or not valid UTF-8 (position = byte offset).
    """
    size = info.path.stat().st_size
    if size > max_bytes:
        info.sha256, info.size = sha256_file(info.path)
        raise FileRejected("whole file", f"file is {size} bytes, over max_line_bytes={max_bytes}: "
                                         "a whole-file record cannot exceed the line cap")
    data = info.path.read_bytes()
    info.sha256, info.size = hashlib.sha256(data).hexdigest(), len(data)
    if not data.strip():
        raise FileRejected("whole file", f"empty file ({len(data)} bytes): nothing to collect")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FileRejected(f"byte {nul}", f"binary file: NUL byte at offset {nul}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"byte {exc.start}", utf8_error(data, exc)) from None
    return text[1:] if text.startswith("\ufeff") else text


def iter_jsonl(info: FileInfo, max_line_bytes: int, *, allow_empty: bool = False):
    """Stream a JSONL file line by line, hashing it in the same pass.

    Yields :class:`JsonlLine` for every non-blank line (1-based ``lineno``,
    ``offset`` = byte offset of the line's first byte). A line longer than
    ``max_line_bytes`` is never held in memory: it is read through in 1 MiB
    pieces and yielded with an ``error``. ``info.sha256``/``info.size`` are set
    once the iterator is exhausted.

    Raises:
        FileRejected: before the first line when the file is binary (NUL byte
            in the first 8 KiB) or empty (unless ``allow_empty``).
    """
    h = hashlib.sha256()
    with open(info.path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
        if not head.strip() and not allow_empty and len(head) < SNIFF_BYTES:
            info.sha256, info.size = hashlib.sha256(head).hexdigest(), len(head)
            raise FileRejected("whole file", f"empty file ({len(head)} bytes): nothing to collect")
        nul = head.find(b"\x00")
        if nul >= 0:
            info.sha256, info.size = sha256_file(info.path)
            raise FileRejected(f"byte {nul}", f"binary file: NUL byte at offset {nul}")
        fh.seek(0)
        lineno = offset = 0
        while True:
            raw = fh.readline(max_line_bytes + 1)
            if not raw:
                break
            lineno += 1
            start = offset
            h.update(raw)
            offset += len(raw)
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                total = len(raw)
                del raw
                while True:
                    more = fh.readline(HASH_CHUNK)
                    if not more:
                        break
                    h.update(more)
                    total += len(more)
                    offset += len(more)
                    if more.endswith(b"\n"):
                        break
                yield JsonlLine(lineno, start, None,
                                f"line is {total} bytes, over max_line_bytes={max_line_bytes}: not parsed")
                continue
            if not raw.strip():
                continue
            yield _parse_line(raw, lineno, start)
    info.sha256, info.size = h.hexdigest(), offset


def _parse_line(raw: bytes, lineno: int, offset: int) -> JsonlLine:
    truncated = not raw.endswith(b"\n")
    try:
        text = raw.rstrip(b"\r\n").decode("utf-8")
        if lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]   # UTF-8 byte order mark
    except UnicodeDecodeError as exc:
        return JsonlLine(lineno, offset, None, utf8_error(raw, exc))
    try:
        obj: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = json_error(exc)
        if truncated:
            reason += " (last line has no trailing newline: truncated write?)"
        return JsonlLine(lineno, offset, None, reason)
    except RecursionError:
        return JsonlLine(lineno, offset, None, "invalid JSON: nested too deeply")
    if not isinstance(obj, dict):
        return JsonlLine(lineno, offset, None, f"expected a JSON object, got {type(obj).__name__}")
    return JsonlLine(lineno, offset, obj, None)


def jsonable(value: Any) -> Any:
    """Make TOML/YAML values JSON-serialisable (datetimes/dates/times → ISO strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
