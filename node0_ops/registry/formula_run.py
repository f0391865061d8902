"""Render a formula's steps with variables and run the shell commands they tell an agent to run.

A Gas Town agent reads each step's description and runs its fenced ```bash blocks; this module
does the same without an agent (operators, CI): ``{{var}}`` placeholders are filled from the
variables (defaults from ``[vars.*]``), steps run in ``needs`` order, and

- ``bd ...`` lines are not run (their ``<id>`` is the molecule's bead): they are returned for
  replay, like the training job's bead transitions;
- a block whose introducing line says ``when <var> is set`` is skipped while that var is empty.

Usage::

    from node0_ops.registry.formula_run import formula_commands, run_formula
    for c in formula_commands(path, {"role": "polecat"}):   # -> [FormulaCommand(step, command, kind, reason)]
        print(c.kind, c.command)
    results = run_formula(path, {"role": "polecat"}, env=os.environ)   # stops at the first failure
"""

import os
import re
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from node0_ops.registry.formulas import PLACEHOLDER

BASH_BLOCK = re.compile(r"```(?:bash|sh|shell)\n(.*?)```", re.S)
WHEN_SET = re.compile(r"when (\w+) is set")


@dataclass
class FormulaCommand:
    """One shell line of a rendered step. ``kind``: ``run`` | ``bd`` (replay only) | ``skip``."""

    step: str
    command: str
    kind: str
    reason: str = ""


@dataclass
class CommandResult:
    """A command that ran: exit code, wall seconds and the output tail (last 4,000 characters)."""

    command: FormulaCommand
    returncode: int
    seconds: float
    output: str = field(repr=False, default="")


def resolve_vars(data: dict, given: dict[str, str]) -> dict[str, str]:
    """Declared vars with ``given`` values over defaults.

    Raises:
        ValueError: a var that is not declared, or a required var without a value.
    """
    declared = data.get("vars", {}) or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"formula {data.get('formula')!r} has no var {unknown[0]!r}; vars: {', '.join(sorted(declared))}")
    out = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        value = given.get(name, spec.get("default"))
        if value is None:
            if spec.get("required"):
                raise ValueError(f"formula {data.get('formula')!r} needs --var {name}=... ({spec.get('description', '')})")
            value = ""
        out[name] = str(value)
    return out


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with every declared ``{{name}}`` replaced (other Handlebars text is left alone)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _ordered_steps(steps: list[dict]) -> list[dict]:
    by_id, done, out = {s["id"]: s for s in steps}, set(), []

    def visit(sid):
        if sid in done:
            return
        done.add(sid)
        for dep in by_id[sid].get("needs", []) or []:
            visit(dep)
        out.append(by_id[sid])

    for s in steps:
        visit(s["id"])
    return out


def formula_commands(path: str | os.PathLike, variables: dict[str, str] | None = None) -> list[FormulaCommand]:
    """Shell lines of a workflow formula's steps, rendered, in ``needs`` order.

    Raises:
        ValueError: bad vars (see :func:`resolve_vars`) or a formula without ``[[steps]]``.
    """
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    if not data.get("steps"):
        raise ValueError(f"{path}: not a workflow formula with [[steps]]")
    values = resolve_vars(data, variables or {})
    out: list[FormulaCommand] = []
    for step in _ordered_steps(data["steps"]):
        text = step.get("description", "")
        for block in BASH_BLOCK.finditer(text):
            before = text[: block.start()].rstrip().splitlines()
            cond = WHEN_SET.search(before[-1]) if before else None
            skip = cond is not None and cond.group(1) in values and not values[cond.group(1)].strip()
            for line in block.group(1).splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                cmd = render(line, values)
                if skip:
                    out.append(FormulaCommand(step["id"], cmd, "skip", f"{cond.group(1)} is empty"))
                elif cmd.startswith("bd "):
                    out.append(FormulaCommand(step["id"], cmd, "bd", "bead command: replay with the molecule's bead id"))
                else:
                    out.append(FormulaCommand(step["id"], cmd, "run"))
    return out


def run_formula(path: str | os.PathLike, variables: dict[str, str] | None = None, *, env: dict | None = None,
                cwd: str | os.PathLike | None = None, timeout_s: float = 1800, echo=None) -> list[CommandResult]:
    """Run the ``run`` commands of :func:`formula_commands` with bash; stop at the first failure.

    Returns:
        one :class:`CommandResult` per command that ran (the last one failed when its
        ``returncode`` is not 0).

    Raises:
        ValueError: see :func:`formula_commands`.
    """
    results = []
    for c in formula_commands(path, variables):
        if c.kind != "run":
            if echo:
                echo(f"[{c.step}] {c.kind}: {c.command}  ({c.reason})")
            continue
        if echo:
            echo(f"[{c.step}] $ {c.command}")
        t0 = time.perf_counter()
        proc = subprocess.run(["bash", "-c", c.command], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout_s)
        res = CommandResult(c, proc.returncode, time.perf_counter() - t0, (proc.stdout + proc.stderr)[-4000:])
        results.append(res)
        if proc.returncode != 0:
            if echo:
                echo(f"[{c.step}] failed with exit code {proc.returncode}:\n{res.output}")
            break
    return results
