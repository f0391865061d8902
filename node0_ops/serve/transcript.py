"""Claude-Code-style JSONL session transcript of the terminal agent, so sessions flow back into the corpus.

Location (formats doc §4 "Claude Code transcripts"): ``<projects>/<mangled cwd>/<session uuid>.jsonl``
where ``<projects>`` is ``$CLAUDE_CONFIG_DIR/projects`` or ``~/.claude/projects``
(:func:`node0_ops.corpus.transcripts.home_projects_dir`) and the mangled cwd replaces every
non-alphanumeric character with ``-`` (:func:`node0_ops.corpus.transcripts.mangle_cwd`);
``directory=`` (``--transcript-dir``) replaces ``<projects>/<mangled cwd>``.

One JSON object per line, appended and flushed as the session goes::

    {"type": "user"|"assistant", "sessionId", "uuid", "parentUuid", "cwd", "timestamp" (UTC ISO, ms, Z),
     "isSidechain": false, "userType": "external", "version": "node0-inference",
     "message": {"role", "model"?, "content": [
         {"type": "text", "text"}
       | {"type": "tool_use", "id", "name": "Bash", "input": {"command"}}
       | {"type": "tool_result", "tool_use_id", "content", "is_error"}], "usage"?}}

Tool results are ``user`` lines (as in Claude Code). ``parentUuid`` chains every line to the one before.

Usage::

    log = TranscriptWriter(cwd="/home/me/gt/gastown/polecats/toast", model="polecat-v3")
    u = log.user_text("Check your hook")
    log.assistant("Checking.", [("toolu_01", "gt hook")])
    log.tool_result("toolu_01", "hooked: gt-abc", is_error=False)
    log.path
"""

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

from node0_ops.corpus.transcripts import home_projects_dir, mangle_cwd

VERSION = "node0-inference"


def _now() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def transcript_dir(cwd: str | os.PathLike, directory: str | os.PathLike | None = None) -> Path:
    """Folder of the session file: ``directory`` or ``<projects>/<mangled cwd>``."""
    if directory:
        return Path(directory).expanduser()
    return home_projects_dir() / mangle_cwd(os.path.abspath(str(cwd)))


class TranscriptWriter:
    """Appends transcript lines (module docstring) to ``<dir>/<session_id>.jsonl``.

    Raises:
        OSError: the folder cannot be created or written.
    """

    def __init__(self, cwd: str | os.PathLike, *, directory: str | os.PathLike | None = None,
                 session_id: str | None = None, model: str | None = None):
        self.cwd = os.path.abspath(str(cwd))
        self.session_id = session_id or str(uuid.uuid4())
        self.model = model
        folder = transcript_dir(self.cwd, directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{self.session_id}.jsonl"
        self._last: str | None = None

    def _write(self, kind: str, message: dict) -> str:
        uid = str(uuid.uuid4())
        line = {"type": kind, "sessionId": self.session_id, "uuid": uid, "parentUuid": self._last, "cwd": self.cwd,
                "timestamp": _now(), "isSidechain": False, "userType": "external", "version": VERSION,
                "message": message}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._last = uid
        return uid

    def user_text(self, text: str) -> str:
        """A user (or Gas Town nudge) message; returns its uuid."""
        return self._write("user", {"role": "user", "content": [{"type": "text", "text": text}]})

    def assistant(self, text: str, tool_uses: list[tuple] = (), usage: dict | None = None) -> str:
        """A model turn: prose plus ``(tool_use_id, command[, tool name])`` calls (name ``Bash`` by default;
        a call to another tool is logged with empty input); returns its uuid."""
        content = [{"type": "text", "text": text}] if text else []
        for tid, cmd, *name in tool_uses:
            tool = name[0] if name else "Bash"
            content.append({"type": "tool_use", "id": tid, "name": tool,
                            "input": {"command": cmd} if cmd is not None else {}})
        msg = {"role": "assistant", "content": content}
        if self.model:
            msg["model"] = self.model
        if usage:
            msg["usage"] = {"input_tokens": usage.get("prompt_tokens", 0),
                            "output_tokens": usage.get("completion_tokens", 0)}
        return self._write("assistant", msg)

    def system_note(self, text: str) -> str:
        """An agent-side note (e.g. the adapter stack chosen for a bead), as a ``system`` line; returns its uuid."""
        uid = str(uuid.uuid4())
        line = {"type": "system", "subtype": "node0_note", "sessionId": self.session_id, "uuid": uid,
                "parentUuid": self._last, "cwd": self.cwd, "timestamp": _now(), "content": text, "level": "info"}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._last = uid
        return uid

    def tool_result(self, tool_use_id: str, content: str, *, is_error: bool) -> str:
        """The output of a command (or its refusal, ``is_error=True``); returns its uuid."""
        return self._write("user", {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": bool(is_error)}]})
