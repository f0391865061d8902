"""Validate ``bd`` and ``gt`` command lines against the CLI spec tables (:mod:`.cli_spec`).

Parsing follows cobra/pflag rules: subcommands are resolved word by word (aliases too),
flags may appear anywhere after them (``--name=value``, ``--name value``, ``-p1``,
``-p 1``, ``-p=1``, clustered short bools ``-fq``), bools take no separate value, ``--``
ends flags, ``strings`` flags split on commas. Global flags (``bd --json``) are accepted
before and after the subcommand. Per-command rules add what cobra enforces in code (a
title for ``bd create``, the depends-on id for ``bd dep add``, ``--subject`` for
``gt mail send`` ...).

Usage::

    from node0_ops.evals.command_validator import validate
    r = validate('bd create "Fix login" -t bug -p 1 -l auth,urgent')
    r.ok, r.subcommand, r.flags      # True, 'create', {'type': 'bug', 'priority': '1', 'labels': ['auth', 'urgent']}
    validate("bd update gt-abc12 --status done").errors
    # ["bd update --status: 'done' is not one of open|in_progress|blocked|deferred|closed|pinned|hooked"]
"""

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from node0_ops.evals.cli_spec import SPECS, CommandSpec, FlagSpec, check_value
from node0_ops.evals.shell import Segment, split_commands

TOOLS = ("bd", "gt")


@dataclass
class ValidationResult:
    """Outcome of validating one command line (or the bd/gt commands within it).

    Attributes:
        ok: no errors.  errors / warnings: human-readable messages naming the command.
        argv: words of the (first) bd/gt command, wrappers stripped.
        tool: ``bd``/``gt`` or None when none was found.
        subcommand: canonical command path, e.g. ``"dep add"`` (aliases resolved).
        flags: canonical long flag name -> value (``str``; ``list[str]`` for repeatable
            flags; ``True``/``False`` for bools).
        positionals: positional arguments in order.
        segment: source text of the command.
        segments: per-command results when the line held several bd/gt commands.
    """

    ok: bool
    errors: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    tool: str | None = None
    subcommand: str = ""
    flags: dict[str, Any] = field(default_factory=dict)
    positionals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    segment: str = ""
    segments: list["ValidationResult"] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def is_tool_segment(seg: Segment) -> bool:
    """True when the segment runs ``bd`` or ``gt``."""
    return seg.program in TOOLS


def _flag_name(spec: FlagSpec) -> str:
    return f"--{spec.long}"


class _Parser:
    def __init__(self, argv: list[str]):
        self.argv = argv
        self.tool = argv[0].rsplit("/", 1)[-1]
        self.root = SPECS[self.tool]
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.flags: dict[str, Any] = {}
        self.positionals: list[str] = []
        self.node: CommandSpec = self.root

    @property
    def label(self) -> str:
        return " ".join((self.tool,) + self.node.path)

    def _lookup(self, long: str | None = None, short: str | None = None) -> FlagSpec | None:
        for node in (self.node, self.root):
            spec = node.flag(long) if long else node.short_flag(short)
            if spec:
                return spec
        return None

    def _store(self, spec: FlagSpec, value: Any, shown: str) -> None:
        if spec.takes_value:
            err = check_value(spec.vtype, value)
            if err:
                self.errors.append(f"{self.label} {shown}: {err}")
            if spec.repeatable:
                parts = value.split(",") if spec.vtype == "strings" else [value]
                self.flags.setdefault(spec.long, []).extend(p.strip() for p in parts if p.strip())
            else:
                self.flags[spec.long] = value
        else:
            if value is True:
                self.flags[spec.long] = True
            else:
                err = check_value("bool", value)
                if err:
                    self.errors.append(f"{self.label} {shown}: {err}")
                self.flags[spec.long] = value.lower() in ("true", "1", "t")

    def _unknown(self, shown: str) -> None:
        known = sorted({f"--{f}" for f in self.node.flags} | {f"--{f}" for f in self.root.flags})
        if self.node.open:
            self.warnings.append(f"{self.label}: flag {shown} is not in the known flag list (command flags only partly documented)")
            return
        hint = difflib.get_close_matches(shown.split("=")[0], known, n=1)
        tip = f"; did you mean {hint[0]}?" if hint else ""
        self.errors.append(f"{self.label}: unknown flag {shown}{tip}")

    def _flag(self, i: int) -> int:
        """Parse the flag at argv[i]; return the index of the next unparsed word."""
        tok = self.argv[i]
        if tok.startswith("--"):
            name, eq, value = tok[2:].partition("=")
            spec = self._lookup(long=name)
            if spec is None:
                self._unknown("--" + name)
                return i + 1
            if eq:
                self._store(spec, value, _flag_name(spec))
                return i + 1
            if not spec.takes_value:
                self._store(spec, True, _flag_name(spec))
                return i + 1
            if i + 1 >= len(self.argv):
                self.errors.append(f"{self.label}: flag --{name} needs a value")
                return i + 1
            self._store(spec, self.argv[i + 1], _flag_name(spec))
            return i + 2
        # short flag(s)
        body = tok[1:]
        j = 0
        while j < len(body):
            ch = body[j]
            spec = self._lookup(short=ch)
            if spec is None:
                self._unknown("-" + ch)
                return i + 1
            rest = body[j + 1:]
            if not spec.takes_value:
                if rest.startswith("="):
                    self._store(spec, rest[1:], f"-{ch}")
                    return i + 1
                self._store(spec, True, f"-{ch}")
                j += 1
                continue
            if rest:
                self._store(spec, rest[1:] if rest.startswith("=") else rest, f"-{ch}")
                return i + 1
            if i + 1 >= len(self.argv):
                self.errors.append(f"{self.label}: flag -{ch} (--{spec.long}) needs a value")
                return i + 1
            self._store(spec, self.argv[i + 1], f"-{ch}")
            return i + 2
        return i + 1

    def parse(self) -> None:
        argv, i = self.argv, 1
        # 1. resolve the command path (flags may come first: bd --json list)
        while i < len(argv):
            tok = argv[i]
            if tok.startswith("-") and tok != "-" and tok != "--":
                i = self._flag(i)
                continue
            child = self.node.child(tok)
            if child is None:
                break
            self.node = child
            i += 1
        if self.node is self.root:
            if i >= len(argv):
                if "help" not in self.flags:
                    self.errors.append(f"{self.tool}: no command given")
                return
            known = sorted(self.root.children)
            hint = difflib.get_close_matches(argv[i], known, n=1)
            tip = f"; did you mean '{self.tool} {hint[0]}'?" if hint else ""
            self.errors.append(f"unknown {self.tool} command '{argv[i]}'{tip}")
            return
        if self.node.requires_subcommand and "help" not in self.flags:
            subs = ", ".join(sorted(self.node.children))
            if i < len(argv) and not argv[i].startswith("-"):
                self.errors.append(f"unknown subcommand '{self.label} {argv[i]}' (known: {subs})")
            else:
                self.errors.append(f"'{self.label}' needs a subcommand: {subs}")
            return
        if self.node.open_group and i < len(argv) and not argv[i].startswith("-"):
            self.warnings.append(f"{self.label}: subcommand '{argv[i]}' is not in the known list (group only partly documented)")
        # 2. flags and positionals
        while i < len(argv):
            tok = argv[i]
            if tok == "--":
                self.positionals.extend(argv[i + 1:])
                break
            if tok.startswith("-") and tok != "-" and len(tok) > 1 and not _looks_negative_number(tok):
                i = self._flag(i)
                continue
            self.positionals.append(tok)
            i += 1
        if "help" in self.flags:
            return
        n = len(self.positionals)
        required = [p for p in self.node.positionals if p.required]
        if n < len(required):
            missing = required[n].name
            self.errors.append(f"{self.label}: missing required argument <{missing}>")
        max_args = self.node.max_args
        if max_args is not None and n > max_args and not self.node.open:
            extra = " ".join(self.positionals[max_args:])
            self.errors.append(f"{self.label}: too many arguments ({n} given, at most {max_args}); unexpected: {extra}")
        rule = RULES.get((self.tool, self.node.name))
        if rule:
            self.errors.extend(f"{self.label}: {msg}" for msg in rule(self.flags, self.positionals))


def _looks_negative_number(tok: str) -> bool:
    return tok[1:].replace(".", "", 1).isdigit()


# --- rules cobra enforces in code ---------------------------------------------------------

def _rule_bd_create(flags: dict, pos: list[str]) -> list[str]:
    errs = []
    if not pos and not flags.get("title") and not flags.get("file") and not flags.get("graph"):
        errs.append("needs a title (positional argument or --title)")
    if any(k.startswith("event-") for k in flags) and flags.get("type") != "event":
        errs.append("--event-* flags require --type event")
    return errs


def _rule_bd_q(flags: dict, pos: list[str]) -> list[str]:
    return [] if pos else ["needs a title"]


def _rule_bd_dep_add(flags: dict, pos: list[str]) -> list[str]:
    if flags.get("file"):
        return ["--file cannot be combined with positional ids"] if pos else []
    via_flag = [f for f in ("blocked-by", "depends-on") if flags.get(f)]
    if not pos:
        return ["needs <issue-id> and the id it depends on (bd dep add <issue> <depends-on>)"]
    if len(pos) == 2 and via_flag:
        return [f"depends-on id given twice (second argument and --{via_flag[0]})"]
    if len(pos) == 1 and not via_flag:
        return ["missing the depends-on id (second argument, --blocked-by or --depends-on)"]
    if len(via_flag) == 2 and flags["blocked-by"] != flags["depends-on"]:
        return ["--blocked-by and --depends-on disagree"]
    return []


def _rule_bd_dep(flags: dict, pos: list[str]) -> list[str]:
    if not pos and not flags.get("blocks"):
        return ["needs a subcommand (add, list, tree, ...) or '<blocker-id> --blocks <blocked-id>'"]
    if pos and not flags.get("blocks"):
        return [f"'{pos[0]}' is not a dep subcommand; use 'bd dep add' or '<blocker-id> --blocks <blocked-id>'"]
    if flags.get("blocks") and not pos:
        return ["--blocks needs the blocker id as the argument: bd dep <blocker-id> --blocks <blocked-id>"]
    return []


def _rule_two_ids(flags: dict, pos: list[str]) -> list[str]:
    return [] if len(pos) == 2 else [f"needs exactly 2 issue ids, got {len(pos)}"]


def _args_or_flag(flag: str, what: str):
    """Rule: positional arguments or ``--flag`` must be given."""
    return lambda flags, pos: [] if pos or flags.get(flag) else [f"needs {what} or --{flag}"]


def _rule_gt_mail_send(flags: dict, pos: list[str]) -> list[str]:
    errs = []
    if not pos and not flags.get("human") and not flags.get("self"):
        errs.append("needs a recipient address (e.g. gastown/witness, mayor/) or --human/--self")
    if not flags.get("subject"):
        errs.append("required flag --subject (-s) not set")
    return errs


def _rule_gt_nudge(flags: dict, pos: list[str]) -> list[str]:
    if len(pos) < 2 and not flags.get("message") and not flags.get("stdin"):
        return ["needs a message (second argument, -m or --stdin)"]
    return []


def _rule_gt_sling(flags: dict, pos: list[str]) -> list[str]:
    if flags.get("on") and len(pos) < 1:
        return ["--on needs the formula as the first argument"]
    return []


RULES = {
    ("bd", "create"): _rule_bd_create,
    ("bd", "q"): _rule_bd_q,
    ("bd", "dep add"): _rule_bd_dep_add,
    ("bd", "dep"): _rule_bd_dep,
    ("bd", "dep remove"): _rule_two_ids,
    ("bd", "delete"): _args_or_flag("from-file", "issue ids"),
    ("bd", "formula convert"): _args_or_flag("all", "a formula name/path"),
    ("gt", "mail send"): _rule_gt_mail_send,
    ("gt", "nudge"): _rule_gt_nudge,
    ("gt", "polecat nuke"): _args_or_flag("all", "a polecat (<rig>/<name>)"),
    ("gt", "polecat remove"): _args_or_flag("all", "a polecat (<rig>/<name>)"),
    ("gt", "sling"): _rule_gt_sling,
}


def validate_argv(argv: list[str], segment: str = "") -> ValidationResult:
    """Validate one bd/gt command given as words (``argv[0]`` is ``bd``/``gt`` or a path to it).

    Raises:
        ValueError: when ``argv[0]`` is not bd or gt.
    """
    if not argv or argv[0].rsplit("/", 1)[-1] not in TOOLS:
        raise ValueError(f"not a bd/gt command: {argv!r}")
    p = _Parser(argv)
    p.parse()
    return ValidationResult(
        ok=not p.errors, errors=p.errors, argv=list(argv), tool=p.tool, subcommand=p.node.name,
        flags=p.flags, positionals=p.positionals, warnings=p.warnings, segment=segment or " ".join(argv),
    )


def validate_all(text: str) -> list[ValidationResult]:
    """Validate every bd/gt command in shell text (``&&``, ``;``, pipes, newlines, ``$(...)``)."""
    return [validate_argv(seg.words, seg.text) for seg in split_commands(text) if is_tool_segment(seg)]


def validate(cmdline: str) -> ValidationResult:
    """Validate a command line holding one or more bd/gt commands.

    Args:
        cmdline: shell text, e.g. ``'bd dep add gt-abc12 gt-xyz34 && gt done'``.

    Returns:
        A :class:`ValidationResult`. With several bd/gt commands, ``ok`` is true only if
        all are valid, errors are prefixed with the failing command, the top-level fields
        describe the first command and ``segments`` holds one result per command. Text
        without any bd/gt command gives ``ok=False`` with the error ``no bd or gt command``.
    """
    results = validate_all(cmdline)
    if not results:
        return ValidationResult(ok=False, errors=[f"no bd or gt command in {cmdline.strip()[:120]!r}"], segment=cmdline)
    if len(results) == 1:
        return results[0]
    first = results[0]
    errors = [f"[{r.segment}] {e}" for r in results for e in r.errors]
    warnings = [f"[{r.segment}] {w}" for r in results for w in r.warnings]
    return ValidationResult(
        ok=not errors, errors=errors, argv=first.argv, tool=first.tool, subcommand=first.subcommand,
        flags=first.flags, positionals=first.positionals, warnings=warnings, segment=cmdline, segments=results,
    )
