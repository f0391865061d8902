"""Pull commands, JSON and code out of a model's free-text answer.

Where commands come from, in order (all are collected, duplicates dropped):
1. tool-call JSON: ``{"name": "bash", "arguments": {"command": ...}}``, OpenAI
   ``{"function": {"name": ..., "arguments": "<json string>"}}``, Anthropic
   ``{"type": "tool_use", "input": {"command": ...}}`` or ``{"tool": ..., "command": ...}``;
   also ``tool_calls`` lists on chat messages (:func:`commands_from_message`);
2. fenced code blocks tagged ``bash``/``sh``/``shell``/``console``/``zsh`` or untagged
   (``$ `` prompts stripped; in prompt-style blocks, lines without a prompt are output);
3. ``$ cmd`` lines outside fences;
4. bare lines / inline code spans that look like a command (``bd``/``gt`` + a known
   command, ``git`` + a subcommand, ``tmux kill-session``, ``pkill``, ``rm -rf``, ...) --
   small models often answer without fences, while prose like "make sure" is ignored.

Usage::

    from node0_ops.evals.answers import extract_commands, extract_json
    extract_commands("Run:\\n```bash\\nbd close gt-abc12 --reason done\\n```")
    # ['bd close gt-abc12 --reason done']
"""

import json
import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh", "shell-session", "terminal", "cmd"}
_PROMPT = re.compile(r"^\s*(?:\$|#|>|%|[\w@.-]+[$#]) (.*)$")
def _bare_pattern() -> re.Pattern:
    from node0_ops.evals.cli_spec import SPECS

    words = sorted({w for spec in SPECS.values() for w in list(spec.children) + list(spec.child_aliases)}, key=len, reverse=True)
    tool = "|".join(map(re.escape, words))
    return re.compile(r"""^\s*(?:[A-Z_][A-Z0-9_]*=\S+\s+)*(?:
          (?:bd|gt)\s+(?:-{1,2}[\w-]+(?:=\S+)?\s+)*(?:%s)(?:\s|$)
        | git\s+(?:-C\s+\S+\s+)?(?:add|commit|push|pull|fetch|checkout|switch|rebase|merge|reset|status|log|diff
                                    |stash|branch|clean|tag|cherry-pick|revert|am|restore|worktree)\b
        | tmux\s+(?:-\w\s+\S+\s+)*[a-z]+-[a-z]+
        | (?:pkill|killall)\s+\S+
        | kill\s+-?\w*\d
        | rm\s+-\w+
        | sqlite3\s+\S+ | dolt\s+sql | mysql\s+-
        | sudo\s+\S+
        | (?:pip3?|npm|apt|apt-get|brew)\s+(?:install|i)\b
        | pytest\b | python3?\s+-m\s+pytest\b
        | make\s+(?:-j\d*|test|check|build)\b
        )""" % tool, re.X)


# Bare (unfenced) lines and inline code count as commands only when they look like one:
# bd/gt + a known command, git + a subcommand, or a program the convention checks care about.
_BARE = _bare_pattern()
_INLINE = re.compile(r"`([^`\n]+)`")
_TOOL_NAMES = {"bash", "shell", "run", "run_command", "execute", "exec", "terminal", "run_shell_command", "sh"}


_SENTENCE_BREAK = re.compile(r"[a-z0-9)][.!?:]\s+[A-Z]")


def _looks_like_prose(line: str) -> bool:
    """A bare line that reads as a sentence ("git commit failed: the hook reports ... Commit again.")."""
    text = line.strip()
    if _SENTENCE_BREAK.search(re.sub(r"(['\"]).*?\1", "", text)):
        return True
    last = text.split()[-1] if text.split() else ""
    return text.endswith(("!", "?", ":", ",")) or (text.endswith(".") and last not in (".", "..") and not last.endswith("/."))


def _join_continuations(lines: list[str]) -> list[str]:
    out, buf = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    if buf:
        out.append(buf)
    return out


def _block_commands(body: str) -> list[str]:
    lines = body.splitlines()
    prompted = [m.group(1) for m in map(_PROMPT.match, lines) if m and not lines[0].lstrip().startswith("#!")]
    if prompted and any(line.lstrip().startswith("$ ") for line in lines):
        return _join_continuations([p for p in prompted if p.strip()])
    text = "\n".join(lines).strip()
    return [text] if text else []


def _iter_json_objects(text: str):
    dec = json.JSONDecoder()
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = dec.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        yield obj
        i = text.find("{", end)


def _commands_from_call(obj) -> list[str]:
    """Commands in one tool-call-shaped JSON value (dict or list), recursively."""
    out: list[str] = []
    if isinstance(obj, list):
        for item in obj:
            out += _commands_from_call(item)
        return out
    if not isinstance(obj, dict):
        return out
    if "tool_calls" in obj:
        out += _commands_from_call(obj["tool_calls"])
    if "function" in obj and isinstance(obj["function"], dict):
        out += _commands_from_call(obj["function"])
    name = str(obj.get("name") or obj.get("tool") or obj.get("tool_name") or "").lower()
    args = obj.get("arguments", obj.get("input", obj.get("parameters", obj.get("args"))))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = {"command": args} if name in _TOOL_NAMES else None
    if isinstance(args, dict):
        cmd = args.get("command") or args.get("cmd") or args.get("script")
        if isinstance(cmd, list):
            cmd = " ".join(map(str, cmd))
        if isinstance(cmd, str) and (name in _TOOL_NAMES or not name or "command" in args):
            out.append(cmd)
    elif isinstance(obj.get("command"), str) and (name in _TOOL_NAMES or not name):
        out.append(obj["command"])
    return out


def commands_from_message(message: dict) -> list[str]:
    """Commands of one chat message: its ``tool_calls`` plus its text ``content``."""
    cmds = _commands_from_call(message.get("tool_calls") or [])
    content = message.get("content")
    if isinstance(content, list):  # Anthropic-style content blocks
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                cmds += _commands_from_call(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                cmds += extract_commands(block.get("text") or "")
    elif isinstance(content, str):
        cmds += extract_commands(content)
    return _dedup(cmds)


def _dedup(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        key = item.strip()
        if key and key not in seen:
            seen.add(key)
            out.append(key)
    return out


def extract_commands(text: str) -> list[str]:
    """Shell command texts found in an answer, in order of appearance, deduplicated.

    Args:
        text: the model's answer.

    Returns:
        List of command strings; a fenced block is returned as one multi-line string (the
        shell splitter separates its commands). Empty when nothing command-like is found.
    """
    cmds: list[str] = []
    for obj in _iter_json_objects(text):
        cmds += _commands_from_call(obj)
    outside = text
    for m in _FENCE.finditer(text):
        lang = m.group(1).lower()
        if lang in _SHELL_LANGS:
            body = m.group(2)
            if lang == "" and body.lstrip().startswith(("{", "[")):
                continue  # untagged JSON block
            cmds += _block_commands(body)
        outside = outside.replace(m.group(0), "\n")
    lines = outside.splitlines()
    for line in _join_continuations(lines):
        m = _PROMPT.match(line)
        if m and line.lstrip().startswith("$ "):
            cmds.append(m.group(1))
        elif _BARE.match(line) and not _looks_like_prose(line):
            cmds.append(line.strip())
        else:
            for span in _INLINE.findall(line):
                if _BARE.match(span):
                    cmds.append(span)
    return _dedup(cmds)


def extract_json(text: str):
    """The first JSON object in an answer (whole text, a fenced block, or embedded), or None."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for m in _FENCE.finditer(text):
        try:
            return json.loads(m.group(2))
        except ValueError:
            continue
    for obj in _iter_json_objects(text):
        return obj
    start = stripped.find("[")
    if start >= 0:
        try:
            return json.JSONDecoder().raw_decode(stripped, start)[0]
        except ValueError:
            pass
    return None


def parse_json_answer(text: str):
    """``(obj, error)`` for an answer that should be JSON.

    An answer that *starts* with JSON (optionally inside a fence) must parse there: a cut-off
    object gives ``(None, "JSON does not parse (truncated?): ...")`` instead of silently
    returning an inner object. Otherwise the first JSON value anywhere is used
    (:func:`extract_json`); ``(None, "no JSON ...")`` when there is none.
    """
    stripped = text.strip()
    fence = _FENCE.match(stripped)
    if fence:
        stripped = fence.group(2).strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.JSONDecoder().raw_decode(stripped)[0], None
        except ValueError as exc:
            return None, f"JSON does not parse (truncated?): {exc}"
    obj = extract_json(text)
    return (obj, None) if obj is not None else (None, "no JSON object in the answer")


def extract_code(text: str, lang: str = "python") -> str | None:
    """Source code from an answer: the longest fenced block tagged ``lang`` (or untagged);
    the whole answer when it has no fences but looks like code (``def``/``class``/``import``)."""
    blocks = [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in (lang, "py" if lang == "python" else lang, "")]
    if blocks:
        return max(blocks, key=len)
    if re.search(r"^\s*(def|class|import|from)\s", text, re.M):
        return text
    return None
