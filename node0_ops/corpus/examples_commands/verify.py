"""Verify-then-keep (APIGen-style, Liu et al. 2024, arXiv:2406.18518): an answer is kept only
when the project's own checkers accept it.

Checks, in order (first failure is the reason):

1. every command is a ``bd``/``gt`` line the command validator accepts with no errors and no
   warnings (:func:`node0_ops.evals.command_validator.validate`; a warning means an unknown flag
   on a partly documented command, not an exact command);
2. no forbidden or raw-shell command (:func:`node0_ops.evals.conventions.check_conventions`);
3. the rendered answer parses back to the same commands (:func:`answers.extract_commands`);
4. a dependency answer records ``blocked`` -> ``blocker`` the right way round
   (:func:`checks.check_dep_direction`);
5. every child create of an epic carries ``--parent <epic>``.
"""

from dataclasses import dataclass, field

from node0_ops.evals.answers import extract_commands
from node0_ops.evals.checks import check_dep_direction
from node0_ops.evals.command_validator import validate, validate_all
from node0_ops.evals.conventions import check_conventions


@dataclass
class Verdict:
    """``ok`` plus the first failing check's ``errors``; ``checks`` lists the checks that ran."""

    ok: bool
    errors: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def to_meta(self) -> dict:
        return {"ok": self.ok, "checks": list(self.checks), "errors": list(self.errors)}


def verify(commands: list[str], answer: str, dep: tuple[str, str, str] | None = None,
           parent: str | None = None) -> Verdict:
    """Run the checks of the module docstring on ``commands`` and their rendering ``answer``."""
    checks = []
    if not commands:
        return Verdict(False, ["no commands"], checks)
    checks.append("validator")
    for cmd in commands:
        res = validate(cmd)
        if not res.ok or res.warnings:
            return Verdict(False, [f"{cmd[:80]}: {(res.errors or res.warnings)[0]}"], checks)
    checks.append("conventions")
    conv = check_conventions("\n".join(commands))
    if not conv.passed:
        return Verdict(False, conv.errors[:1], checks)
    checks.append("round_trip")
    want = [r.segment for r in validate_all("\n".join(commands))]
    got = [r.segment for r in validate_all("\n".join(extract_commands(answer)))]
    if want != got:
        return Verdict(False, [f"answer parses to {got!r:.120}, expected {want!r:.120}"], checks)
    if dep:
        checks.append("dep_direction")
        res = check_dep_direction(commands, dep[0], dep[1], dep[2])
        if not res.passed:
            return Verdict(False, res.errors[:1], checks)
    if parent:
        checks.append("parent")
        creates = [r for r in validate_all("\n".join(commands)) if r.subcommand == "create"]
        # a new epic is the --silent create captured in $(...) (the validator lists it after the line)
        children = [r for r in creates if not (parent.startswith("$") and r.flags.get("silent"))]
        bad = [r.segment for r in children if r.flags.get("parent") != parent]
        if bad:
            return Verdict(False, [f"child create without --parent {parent}: {bad[0][:80]}"], checks)
    return Verdict(True, [], checks)
