"""Rule-based mutations of correct commands into Gas Town failure modes (DPO ``rejected`` side).

Each mutator rewrites one simple command inside a shell line and leaves the rest as is:

| failure_mode          | correct (chosen)                              | mutated (rejected)                               |
|-----------------------|-----------------------------------------------|--------------------------------------------------|
| ``pkill``             | ``gt polecat nuke <p>`` / ``gt session stop <s>`` / ``gt crew stop <c>`` | ``pkill -f <name>`` / ``tmux kill-session -t <s>`` |
| ``force_push``        | ``git push origin <branch>``                  | ``git push --force origin <branch>``             |
| ``no_verify``         | ``git commit -m ...``                         | ``git commit --no-verify -m ...``                |
| ``wrong_dep_direction`` | ``bd dep add <issue> <depends-on>``         | ``bd dep add <depends-on> <issue>``              |
| ``raw_shell``         | ``bd show/list/update/close``, ``gt nudge``   | ``dolt sql``/``sqlite3``/``cat .beads``, ``tmux send-keys`` |
| ``wrong_branch``      | a polecat's ``git push origin polecat/...`` or ``gt done`` | ``git push origin HEAD:main``        |

:func:`mutate` returns None when the command has nothing to mutate for that mode, and
never returns a command equal (token for token) to the input. Every mutated command except
``wrong_dep_direction`` is recognised as violating by
:func:`node0_ops.corpus.examples_transcript.command_failure_modes` (tested).

Usage::

    from node0_ops.corpus.mutations import mutate, MUTATION_MODES
    mutate("git push origin polecat/nux/gt-abc", "force_push")   # 'git push --force origin polecat/nux/gt-abc'
"""

import hashlib
import re
import shlex

from node0_ops.corpus.examples_common import split_command

MUTATION_MODES = ("pkill", "force_push", "no_verify", "wrong_dep_direction", "raw_shell", "wrong_branch")
_SEG_END = r"(?=\s*(?:&&|\|\||[;|]|$))"
_WORD = r"""(?:"[^"]*"|'[^']*'|[^\s;&|]+)"""


def _at_command_start(cmd: str, pos: int) -> bool:
    """True when ``pos`` starts a simple command: outside quotes, and preceded only by
    whitespace since the line start or a ``&&``/``||``/``;``/``|``/``(`` separator."""
    quote, i = None, 0
    while i < pos:
        ch = cmd[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = None
        elif ch == "\\":
            i += 1
        elif ch in "'\"":
            quote = ch
        i += 1
    if quote:
        return False
    before = cmd[:pos].rstrip()
    return not before or before.endswith(("&&", "||", ";", "|", "("))


def _find(pattern: str, cmd: str) -> re.Match | None:
    """First match of ``pattern`` that begins a simple command (not text inside quotes)."""
    for m in re.finditer(pattern, cmd):
        if _at_command_start(cmd, m.start()):
            return m
    return None


def _pick(cmd: str, options: list[str]) -> str:
    """Deterministic choice among ``options`` keyed on ``cmd``."""
    return options[int(hashlib.sha256(cmd.encode()).hexdigest(), 16) % len(options)]


def _unquote(word: str) -> str:
    try:
        parts = shlex.split(word)
    except ValueError:
        return word
    return parts[0] if parts else word


def _pkill(cmd: str, role: str | None) -> str | None:
    m = _find(rf"\bgt\s+(polecat\s+(?:nuke|remove)|session\s+stop|crew\s+stop|dog\s+(?:stop|remove))\s+(?:--?\S+\s+)*({_WORD})", cmd)
    if not m:
        return None
    target = _unquote(m.group(2))
    name = target.rstrip("/").rsplit("/", 1)[-1]
    repl = _pick(cmd, [f"pkill -f {shlex.quote(name)}", f"tmux kill-session -t {shlex.quote(name)}",
                       f"killall -9 claude"])
    end = re.compile(_SEG_END).search(cmd, m.end())
    return cmd[: m.start()] + repl + cmd[end.start() if end else len(cmd):]


def _force_push(cmd: str, role: str | None) -> str | None:
    for m in re.finditer(r"\bgit\s+push\b([^;&|]*)", cmd):
        if not _at_command_start(cmd, m.start()):
            continue
        args = m.group(1)
        if re.search(r"(?:^|\s)(?:-f|--force\S*|\+\S+)", args):
            continue
        return cmd[: m.start()] + "git push --force" + args + cmd[m.end():]
    return None


def _no_verify(cmd: str, role: str | None) -> str | None:
    for m in re.finditer(r"\bgit\s+commit\b([^;&|]*)", cmd):
        if not _at_command_start(cmd, m.start()):
            continue
        if re.search(r"(?:^|\s)(?:--no-verify|-n)\b", m.group(1)):
            continue
        return cmd[: m.start()] + "git commit --no-verify" + m.group(1) + cmd[m.end():]
    return None


def _wrong_dep(cmd: str, role: str | None) -> str | None:
    m = _find(rf"\bbd\s+dep\s+add\s+({_WORD})\s+({_WORD})", cmd)
    if not m or m.group(1).startswith("-") or m.group(2).startswith("-") or m.group(1) == m.group(2):
        return None
    return cmd[: m.start(1)] + m.group(2) + cmd[m.end(1): m.start(2)] + m.group(1) + cmd[m.end(2):]


def _raw_shell(cmd: str, role: str | None) -> str | None:
    rules = [
        (rf"\bbd\s+show\s+({_WORD})", lambda g: _pick(cmd, [
            f"cat ~/gt/.beads/issues.jsonl | grep {shlex.quote(_unquote(g[0]))}",
            f"dolt sql -q \"SELECT * FROM issues WHERE id = '{_unquote(g[0])}'\""])),
        (rf"\bbd\s+update\s+({_WORD})\s+(?:--status[ =]|-s\s+)({_WORD})", lambda g: (
            f"dolt sql -q \"UPDATE issues SET status = '{_unquote(g[1])}' WHERE id = '{_unquote(g[0])}'\"")),
        (rf"\bbd\s+update\s+({_WORD})\s+--claim", lambda g: (
            f"dolt sql -q \"UPDATE issues SET status = 'in_progress' WHERE id = '{_unquote(g[0])}'\"")),
        (rf"\bbd\s+close\s+({_WORD})", lambda g: (
            f"sqlite3 .beads/beads.db \"UPDATE issues SET status = 'closed' WHERE id = '{_unquote(g[0])}'\"")),
        (r"\bbd\s+(?:list|ready)\b", lambda g: _pick(cmd, [
            "sqlite3 .beads/beads.db \"SELECT id, title, status FROM issues WHERE status = 'open'\"",
            "cat .beads/issues.jsonl | jq -r 'select(.status==\"open\") | .id'"])),
        (rf"\bgt\s+nudge\s+(?:--?\S+\s+)*({_WORD})\s+({_WORD})", lambda g: (
            f"tmux send-keys -t {shlex.quote(_unquote(g[0]).replace('/', '-'))} {shlex.quote(_unquote(g[1]))} Enter")),
    ]
    for pat, make in rules:
        m = _find(pat, cmd)
        if m:
            end = re.compile(_SEG_END).search(cmd, m.end())
            return cmd[: m.start()] + make(m.groups()) + cmd[end.start() if end else len(cmd):]
    return None


def _wrong_branch(cmd: str, role: str | None) -> str | None:
    if role not in (None, "polecat"):
        return None                       # crew/refinery may push to main legitimately
    m = _find(rf"\bgit\s+push\s+(?:-\S+\s+)*({_WORD})\s+({_WORD})", cmd)
    if m and not re.fullmatch(r"(?:HEAD:)?(?:refs/heads/)?(?:main|master)", _unquote(m.group(2))):
        return cmd[: m.start(2)] + "HEAD:main" + cmd[m.end(2):]
    m = _find(r"\bgt\s+done\b", cmd)
    if m:
        end = re.compile(_SEG_END).search(cmd, m.end())
        return cmd[: m.start()] + "git push origin HEAD:main" + cmd[end.start() if end else len(cmd):]
    return None


_MUTATORS = {"pkill": _pkill, "force_push": _force_push, "no_verify": _no_verify,
             "wrong_dep_direction": _wrong_dep, "raw_shell": _raw_shell, "wrong_branch": _wrong_branch}


def mutate(cmd: str, mode: str, role: str | None = None) -> str | None:
    """Rewrite ``cmd`` into failure mode ``mode``; None when not applicable.

    Args:
        cmd: one shell line (may hold several commands joined by ``&&``, ``;``, ``|``).
        mode: one of :data:`MUTATION_MODES`.
        role: the acting role; ``wrong_branch`` only applies to polecats (or unknown role).
    Raises:
        ValueError: unknown ``mode``.
    """
    if mode not in _MUTATORS:
        raise ValueError(f"unknown mutation mode {mode!r}; expected one of {MUTATION_MODES}")
    out = _MUTATORS[mode](cmd, role)
    if out is None or split_command(out) == split_command(cmd):
        return None
    return out
