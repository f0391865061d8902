"""Parsed commands and intent matching: "did the answer run ``bd close gt-abc12`` with a reason?".

A *matcher* is a small dict (written in suite tasks' ``checker_args``):

- ``cmd``: program + subcommand, e.g. ``"bd close"``, ``"gt mail send"``, ``"git push"``.
  For bd/gt the subcommand is the canonical path (aliases resolved: ``bd new`` is
  ``bd create``); for other programs it is the first non-option word (git skips ``-C``/``-c``).
- ``args``: tokens that must all appear among the positionals (bd/gt) or words (others).
- ``ordered_args``: bd/gt positionals must start with exactly ``args`` in this order.
- ``flags``: ``{long_name: value}``; ``"*"`` = present and non-empty; values compare after
  normalisation (``P1`` == ``1``, ``feat`` == ``feature``); lists compare as subsets.
- ``flags_absent``: long names that must not be set.
- ``text_regex``: regex (case-insensitive) searched in the command's source text.
- ``any_of``: alternatives (a list of matchers); the matcher holds if one does.

Usage::

    from node0_ops.evals.intents import parse_commands, find_match
    cmds = parse_commands(["bd close gt-abc12 -r 'Fixed in PR #12'"])
    find_match({"cmd": "bd close", "args": ["gt-abc12"], "flags": {"reason": "*"}}, cmds)  # 0
"""

import os
import re
from dataclasses import dataclass, field
from typing import Any

from node0_ops.evals.command_validator import ValidationResult, is_tool_segment, validate_argv
from node0_ops.evals.shell import split_commands

ID_RE = re.compile(r"^[a-z][a-z0-9]{0,15}-[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_KEY_FLAGS = {"status", "type", "priority", "on", "parent", "blocked-by", "depends-on", "blocks", "severity",
              "labels", "label", "add-label", "formula", "issue", "claim", "all", "force"}
_TYPE_ALIASES = {"feat": "feature", "enhancement": "feature", "dec": "decision", "adr": "decision",
                 "mr": "merge-request", "mol": "molecule"}
_DEP_CREATING = {"dep add", "link"}


@dataclass
class ParsedCommand:
    """One simple command of an answer.

    Attributes:
        text: source text.  program: ``bd``, ``gt``, ``git``, ...
        subcommand: bd/gt canonical path, git subcommand, or the first non-option word.
        positionals / flags: bd/gt: from the validator; others: non-option words and
            ``{option: value-or-True}`` without leading dashes.
        words: all words (wrappers stripped).  validation: bd/gt validation result.
    """

    text: str
    program: str
    subcommand: str
    positionals: list[str]
    flags: dict[str, Any]
    words: list[str]
    validation: ValidationResult | None = None

    @property
    def is_tool(self) -> bool:
        return self.validation is not None


def _generic(words: list[str]) -> tuple[str, list[str], dict]:
    prog = os.path.basename(words[0])
    rest = words[1:]
    if prog == "git":
        while rest and rest[0].startswith("-"):
            rest = rest[2:] if rest[0] in ("-C", "-c") else rest[1:]
    sub = rest[0] if rest and not rest[0].startswith("-") else ""
    args = rest[1:] if sub else rest
    flags, pos = {}, []
    for a in args:
        if a.startswith("-") and a != "-":
            name, eq, value = a.lstrip("-").partition("=")
            flags[name] = value if eq else True
        else:
            pos.append(a)
    return sub, pos, flags


def parse_commands(command_texts: list[str] | str) -> list[ParsedCommand]:
    """Split command texts into simple commands; bd/gt ones are validated."""
    texts = [command_texts] if isinstance(command_texts, str) else command_texts
    out = []
    for text in texts:
        for seg in split_commands(text):
            words = seg.words
            if not words:
                continue
            if is_tool_segment(seg):
                v = validate_argv(words, seg.text)
                out.append(ParsedCommand(seg.text, v.tool, v.subcommand, v.positionals, v.flags, words, v))
            else:
                sub, pos, flags = _generic(words)
                out.append(ParsedCommand(seg.text, os.path.basename(words[0]), sub, pos, flags, words))
    return out


def normalize_value(name: str, value: Any) -> Any:
    """Canonical form of a flag value for comparisons (priority, type aliases, case)."""
    if isinstance(value, list):
        return sorted(normalize_value(name, v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    v = str(value).strip()
    if name == "priority" and re.fullmatch(r"[Pp][0-4]", v):
        return v[1]
    if name == "type":
        return _TYPE_ALIASES.get(v, v)
    if name in ("status", "severity") and v.upper() in ("COMPLETED", "ESCALATED", "DEFERRED", "CRITICAL", "HIGH", "MEDIUM", "LOW"):
        return v.upper()
    return v


def _flag_ok(name: str, want: Any, have: Any) -> bool:
    if want == "*":
        return have not in (None, "", False, [])
    if have is None:
        return want is False
    if isinstance(want, list):
        have_list = have if isinstance(have, list) else [have]
        return set(normalize_value(name, want)) <= set(normalize_value(name, have_list))
    if isinstance(have, list):
        return normalize_value(name, want) in normalize_value(name, have)
    return normalize_value(name, want) == normalize_value(name, have)


def matches(matcher: dict, cmd: ParsedCommand) -> bool:
    """True when ``cmd`` satisfies ``matcher`` (see the module docstring for the keys).

    Raises:
        ValueError: when the matcher has neither ``cmd`` nor ``any_of``.
    """
    if "any_of" in matcher:
        return any(matches(m, cmd) for m in matcher["any_of"])
    if "cmd" not in matcher:
        raise ValueError(f"matcher needs 'cmd' or 'any_of': {matcher!r}")
    prog, _, sub = matcher["cmd"].partition(" ")
    if cmd.program != prog:
        return False
    if sub:
        if cmd.is_tool:
            if cmd.subcommand != sub:
                return False
        elif cmd.subcommand != sub:
            return False
    args = [str(a) for a in matcher.get("args", [])]
    pool = cmd.positionals if cmd.is_tool else cmd.words[1:]
    if matcher.get("ordered_args"):
        if cmd.positionals[:len(args)] != args:
            return False
    elif not all(a in pool for a in args):
        return False
    for name, want in (matcher.get("flags") or {}).items():
        if not _flag_ok(name, want, cmd.flags.get(name)):
            return False
    if any(cmd.flags.get(name) not in (None, False, "", []) for name in matcher.get("flags_absent", [])):
        return False
    rx = matcher.get("text_regex")
    return not (rx and not re.search(rx, cmd.text, re.I))


def find_match(matcher: dict, cmds: list[ParsedCommand], start: int = 0) -> int | None:
    """Index of the first command at or after ``start`` matching ``matcher``, or None."""
    for i in range(start, len(cmds)):
        if matches(matcher, cmds[i]):
            return i
    return None


# --- intents for corpus tasks -------------------------------------------------------------

@dataclass(frozen=True)
class Intent:
    """What a bd/gt command means for grading: tool, canonical subcommand, key arguments
    (issue ids, addresses, formula names; order kept) and key flags (normalised)."""

    tool: str
    subcommand: str
    keys: tuple[str, ...]
    flags: tuple[tuple[str, Any], ...] = field(default=())

    def describe(self) -> str:
        flags = " ".join(f"--{k}={v}" for k, v in self.flags)
        return " ".join(x for x in (self.tool, self.subcommand, *self.keys, flags) if x)


def _is_key_arg(tok: str) -> bool:
    return " " not in tok and len(tok) < 80 and (bool(ID_RE.match(tok)) or "/" in tok)


def command_intent(cmd: ParsedCommand) -> Intent | None:
    """The :class:`Intent` of a valid bd/gt command (dependency forms are canonicalised to
    ``dep add <blocked> <blocker>``), or None for other commands."""
    v = cmd.validation
    if v is None or not v.ok:
        return None
    sub, pos, flags = v.subcommand, list(v.positionals), dict(v.flags)
    if sub == "dep" and flags.get("blocks") and pos:
        sub, pos, flags = "dep add", [flags.pop("blocks"), pos[0]], {"type": "blocks"}
    elif sub in _DEP_CREATING:
        blocker = pos[1] if len(pos) > 1 else flags.pop("blocked-by", None) or flags.pop("depends-on", None)
        flags.pop("blocked-by", None)
        flags.pop("depends-on", None)
        pos = [pos[0], blocker] if pos and blocker else pos
        flags["type"] = flags.get("type") or "blocks"
        sub = "dep add"
    keys = tuple(p for p in pos if _is_key_arg(p))
    key_flags = tuple(sorted((k, _freeze(normalize_value(k, val))) for k, val in flags.items() if k in _KEY_FLAGS))
    return Intent(v.tool, sub, keys, key_flags)


def _freeze(v):
    return tuple(v) if isinstance(v, list) else v


def intent_matches(ref: Intent, cand: Intent) -> bool:
    """Candidate covers the reference: same tool/subcommand, the reference's key arguments
    (in order for ``dep add``, as a subset otherwise) and the reference's key flags."""
    if (ref.tool, ref.subcommand) != (cand.tool, cand.subcommand):
        return False
    if ref.subcommand == "dep add":
        if cand.keys[:2] != ref.keys[:2]:
            return False
    elif not set(ref.keys) <= set(cand.keys):
        return False
    have = dict(cand.flags)
    return all(have.get(k) == v for k, v in ref.flags)
