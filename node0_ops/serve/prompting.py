"""Prompt rendering and tool-call extraction from model text.

Prompts are rendered with the training chat template (:mod:`node0_ops.train.chat_template`,
ChatML + Hermes ``<tool_call>`` blocks) unless the registry gives another Jinja template.

Model text may propose shell commands four ways; :func:`extract_tool_calls` reads them in
this order of preference (structured first):

1. Hermes blocks, as trained: ``<tool_call>\\n{"name": "bash", "arguments": {"command": "ls"}}\\n</tool_call>``
2. OpenAI JSON: ``{"tool_calls": [{"id": ..., "type": "function", "function": {"name": "bash",
   "arguments": "{\\"command\\": \\"ls\\"}"}}]}`` anywhere in the text
3. fenced blocks: ```` ```bash ```` / ``sh`` / ``shell`` / ``console``: one command per line
   (``\\`` continuations joined, ``# comments`` and a leading ``$ `` dropped)
4. ``$ cmd`` lines outside fences

Tool names accepted as shell: ``bash``, ``Bash``, ``shell``, ``sh``, ``run``, ``terminal``,
``execute``; argument keys ``command`` / ``cmd`` / ``script``.

Usage::

    prompt = render_prompt([{"role": "user", "content": "hi"}])
    calls, text = extract_tool_calls(model_text)
"""

import json
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from node0_ops.train.chat_template import END_OF_TURN, normalize_messages, render

SHELL_TOOLS = {"bash", "shell", "sh", "run", "terminal", "execute", "run_command", "run_shell"}
_ARG_KEYS = ("command", "cmd", "script")
_HERMES = re.compile(r"<tool_call>\s*(?P<body>.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"```(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)(?:```|$)", re.S)
_SHELL_LANGS = {"bash", "sh", "shell", "console", "zsh", "terminal"}
_DOLLAR = re.compile(r"^\s*\$ (?P<cmd>\S.*)$", re.M)


@dataclass
class ToolCall:
    """One proposed command. ``error`` is set (and ``command`` None) for calls that are not shell commands."""

    id: str
    command: str | None
    source: str  # hermes | openai | fence | dollar
    name: str = "Bash"
    error: str | None = None


def new_call_id() -> str:
    """``toolu_<24 hex>`` (Claude Code's tool_use id style)."""
    return "toolu_" + uuid.uuid4().hex[:24]


@lru_cache(maxsize=8)
def _compiled(template: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template)


def render_prompt(messages: list[dict], template: str | None = None) -> str:
    """Render OpenAI-shape ``messages`` plus the assistant generation prompt.

    Args:
        messages: ``[{"role", "content", "tool_calls"?, "tool_call_id"?}]``.
        template: a Jinja chat template; None = the training template (identical at train time).

    Raises:
        ValueError: a message without a role, a tool call without a name (from ``normalize_messages``),
            or a template that fails to render (message names the error).
    """
    msgs = normalize_messages(messages)
    if template is None:
        return render(msgs, add_generation_prompt=True)
    try:
        return _compiled(template).render(messages=msgs, add_generation_prompt=True, bos_token="", eos_token="")
    except Exception as exc:  # jinja2 errors of a registry template
        raise ValueError(f"chat template failed to render these messages: {exc}") from exc


def stop_strings(template: str | None) -> list[str]:
    """Stop strings for a template: ``<|im_end|>`` for ChatML templates (the training one included)."""
    return [END_OF_TURN] if template is None or END_OF_TURN in template else []


def _command_from_args(args) -> str | None:
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return args.strip() or None
    if isinstance(args, dict):
        for key in _ARG_KEYS:
            if isinstance(args.get(key), str) and args[key].strip():
                return args[key].strip()
    return None


def _call_from_obj(obj: dict, source: str) -> ToolCall | None:
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    name = fn.get("name")
    if not isinstance(name, str):
        return None
    cid = obj.get("id") if isinstance(obj.get("id"), str) and obj.get("id") else new_call_id()
    if name.lower() not in SHELL_TOOLS:
        return ToolCall(cid, None, source, name, f"unknown tool {name!r}: only the Bash tool exists")
    cmd = _command_from_args(fn.get("arguments", fn.get("parameters")))
    if cmd is None:
        return ToolCall(cid, None, source, name, "tool call without a 'command' argument")
    return ToolCall(cid, cmd, source)


def _json_objects(text: str):
    """Every top-level JSON object in ``text`` (raw_decode from each ``{``)."""
    dec = json.JSONDecoder()
    i = text.find("{")
    while i != -1:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        yield obj, i, end
        i = text.find("{", end)


def hermes_calls(text: str) -> tuple[list[ToolCall], str]:
    """Hermes ``<tool_call>`` blocks -> calls, and the text with the blocks removed."""
    calls = []
    for m in _HERMES.finditer(text):
        try:
            obj = json.loads(m["body"])
        except json.JSONDecodeError:
            calls.append(ToolCall(new_call_id(), None, "hermes", "?", f"tool call is not valid JSON: {m['body'][:80]!r}"))
            continue
        call = _call_from_obj(obj, "hermes") if isinstance(obj, dict) else None
        if call:
            calls.append(call)
    return calls, _HERMES.sub("", text).strip()


def _openai_calls(text: str) -> tuple[list[ToolCall], str]:
    calls, spans = [], []
    for obj, start, end in _json_objects(text):
        if isinstance(obj, dict) and isinstance(obj.get("tool_calls"), list):
            found = [c for c in (_call_from_obj(x, "openai") for x in obj["tool_calls"] if isinstance(x, dict)) if c]
            if found:
                calls += found
                spans.append((start, end))
    for start, end in reversed(spans):
        text = text[:start] + text[end:]
    return calls, text.strip()


def _block_commands(body: str) -> list[str]:
    cmds, buf = [], ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if not buf:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            line = stripped[2:] if stripped.startswith("$ ") else stripped
        else:
            line = line.strip()
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        cmds.append((buf + line).strip())
        buf = ""
    if buf.strip():
        cmds.append(buf.strip())
    return cmds


def extract_tool_calls(text: str) -> tuple[list[ToolCall], str]:
    """Commands the model proposes in ``text`` (module docstring formats) and the remaining prose.

    Returns:
        ``(calls, text)``: calls in order of appearance (structured formats win: when Hermes or
        OpenAI calls exist, fenced blocks are prose); text without the structured call blocks.
    """
    calls, rest = hermes_calls(text)
    more, rest = _openai_calls(rest)
    calls += more
    if calls:
        return calls, rest
    found: list[tuple[int, str, str]] = []
    fenced_spans = []
    for m in _FENCE.finditer(text):
        fenced_spans.append(m.span())
        if m["lang"].lower() in _SHELL_LANGS or (not m["lang"] and _looks_shell(m["body"])):
            found += [(m.start(), c, "fence") for c in _block_commands(m["body"])]
    for m in _DOLLAR.finditer(text):
        if not any(a <= m.start() < b for a, b in fenced_spans):
            found.append((m.start(), m["cmd"].strip(), "dollar"))
    found.sort(key=lambda t: t[0])
    return [ToolCall(new_call_id(), cmd, src) for _, cmd, src in found], text.strip()


def _looks_shell(body: str) -> bool:
    first = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
    return first.startswith("$ ") or first.split(" ")[0] in ("gt", "bd", "git", "ls", "cat", "grep")


def openai_tool_calls(calls: list[ToolCall]) -> list[dict]:
    """OpenAI ``message.tool_calls`` for shell calls (``{"id","type":"function","function":{name,arguments}}``)."""
    return [{"id": c.id, "type": "function",
             "function": {"name": "bash", "arguments": json.dumps({"command": c.command}, ensure_ascii=False)}}
            for c in calls if c.command is not None]
