"""Program checks for agent answers, in one place: dependency direction, forbidden
commands and raw shell (:mod:`.conventions`), patrol-decision JSON, plan DAGs
(:mod:`.plans`) and sandboxed code execution (:mod:`.sandbox`).

Dependency semantics come from beads (gastown-formats.md §2.1): ``issue_id`` depends on
(is blocked by) ``depends_on_id``, so "X is blocked by Y" is ``bd dep add X Y``.

Usage::

    from node0_ops.evals.checks import check_dep_direction, find_forbidden, check_patrol_decision
    check_dep_direction("bd dep add gt-abc12 gt-xyz34", blocked="gt-abc12", blocker="gt-xyz34").passed  # True
    find_forbidden("git push --force origin main")[0].rule                                             # 'force_push'
"""

from dataclasses import asdict, dataclass

from node0_ops.evals.answers import parse_json_answer
from node0_ops.evals.command_validator import ValidationResult, validate_all
from node0_ops.evals.conventions import (FORBIDDEN_RULES, RAW_SHELL_RULES, check_conventions, find_forbidden,
                                         find_raw_shell)
from node0_ops.evals.plans import check_plan, dag_layers, normalize_plan
from node0_ops.evals.results import CheckResult, Violation

__all__ = ["FORBIDDEN_RULES", "RAW_SHELL_RULES", "CheckResult", "DepEdge", "Violation", "check_code",
           "check_conventions", "check_dep_direction", "check_json_schema", "check_patrol_decision", "check_plan",
           "dag_layers", "dep_edges", "find_forbidden", "find_raw_shell", "normalize_plan", "patrol_decision_schema"]


# --- dependency direction -----------------------------------------------------------------

@dataclass(frozen=True)
class DepEdge:
    """``blocked`` depends on (is blocked by) ``blocker`` with dependency ``dep_type``."""

    blocked: str
    blocker: str
    dep_type: str
    command: str


def dep_edges(results: list[ValidationResult]) -> list[DepEdge]:
    """Dependency edges created by validated bd commands.

    Recognised forms: ``bd dep add A B``, ``bd dep add A --blocked-by B`` /
    ``--depends-on B``, ``bd dep B --blocks A``, ``bd link A B`` (all: A blocked by B;
    ``-t/--type`` sets the dependency type, default ``blocks``).
    """
    edges = []
    for r in results:
        if r.tool != "bd":
            continue
        pos, flags = r.positionals, r.flags
        dep_type = flags.get("type") or "blocks"
        if r.subcommand == "dep add" and pos:
            blocker = pos[1] if len(pos) > 1 else flags.get("blocked-by") or flags.get("depends-on")
            if blocker:
                edges.append(DepEdge(pos[0], blocker, dep_type, r.segment))
        elif r.subcommand == "dep" and pos and flags.get("blocks"):
            edges.append(DepEdge(flags["blocks"], pos[0], "blocks", r.segment))
        elif r.subcommand == "link" and len(pos) == 2:
            edges.append(DepEdge(pos[0], pos[1], dep_type, r.segment))
    return edges


def check_dep_direction(commands, blocked: str, blocker: str, dep_type: str = "blocks") -> CheckResult:
    """Check that the commands record "``blocked`` is blocked by ``blocker``" the right way round.

    Args:
        commands: shell text or a list of command strings.
        blocked: the issue that must wait.  blocker: the issue it waits for.
        dep_type: expected dependency type (``blocks`` unless told otherwise).

    Returns:
        Passed when an edge blocked->blocker of ``dep_type`` exists and no reversed edge.
    """
    text = commands if isinstance(commands, str) else "\n".join(commands)
    edges = dep_edges(validate_all(text))
    right = [e for e in edges if e.blocked == blocked and e.blocker == blocker]
    reverse = [e for e in edges if e.blocked == blocker and e.blocker == blocked]
    errors = []
    if reverse:
        errors.append(f"dependency reversed: '{reverse[0].command}' makes {blocker} wait for {blocked}; "
                      f"{blocked} is blocked by {blocker}, so run 'bd dep add {blocked} {blocker}'")
    if not right and not reverse:
        errors.append(f"no command records that {blocked} is blocked by {blocker} (expected 'bd dep add {blocked} {blocker}')")
    if right and all(e.dep_type != dep_type for e in right):
        errors.append(f"dependency type is {right[0].dep_type!r}, expected {dep_type!r}")
    passed = not errors
    return CheckResult(passed, 1.0 if passed else 0.0, errors, {"edges": [asdict(e) for e in edges]})


# --- patrol decisions ---------------------------------------------------------------------

def patrol_decision_schema(allowed_actions: list[str]) -> dict:
    """JSON schema of a patrol decision ``{"action": <one of allowed>, "reason": <text>}``."""
    if not allowed_actions:
        raise ValueError("allowed_actions is empty: list the actions the patrol step permits")
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(allowed_actions)},
            "reason": {"type": "string", "minLength": 3, "maxLength": 200},
        },
        "required": ["action", "reason"],
        "additionalProperties": False,
    }


def check_json_schema(obj, schema: dict) -> list[str]:
    """Messages for every JSON-schema violation of ``obj`` (empty list when valid).

    Uses the ``jsonschema`` package (Draft 2020-12 semantics for the keywords used here).
    """
    import jsonschema  # lazy: only structured checks need it

    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))]


def check_patrol_decision(answer, allowed_actions: list[str], accepted_actions: list[str] | None = None,
                          schema: dict | None = None) -> CheckResult:
    """Check a patrol decision answer.

    Args:
        answer: model text (JSON somewhere in it) or an already-parsed object.
        allowed_actions: the action enum of the formula step.
        accepted_actions: actions counted as correct for this situation (default: any allowed).
        schema: JSON schema to validate against (default :func:`patrol_decision_schema`).

    Returns:
        score 1.0 when valid and accepted, 0.5 when valid but another allowed action,
        0.0 for unparseable or schema-invalid answers.
    """
    obj, err = parse_json_answer(answer) if isinstance(answer, str) else (answer, None)
    if obj is None:
        return CheckResult(False, 0.0, [err])
    schema = schema or patrol_decision_schema(allowed_actions)
    errors = check_json_schema(obj, schema)
    action = obj.get("action") if isinstance(obj, dict) else None
    if action is not None and action not in allowed_actions:
        errors.append(f"action {action!r} is not allowed here (allowed: {', '.join(allowed_actions)})")
    if errors:
        return CheckResult(False, 0.0, errors, {"parsed": obj})
    accepted = accepted_actions or allowed_actions
    if action not in accepted:
        return CheckResult(False, 0.5, [f"action {action!r} is allowed but wrong here (expected {' or '.join(accepted)})"],
                           {"parsed": obj})
    return CheckResult(True, 1.0, [], {"parsed": obj})


# --- code execution -----------------------------------------------------------------------

def check_code(answer: str, tests: str, **limits) -> CheckResult:
    """Extract Python code from the answer and run ``tests`` against it in the sandbox.

    ``limits`` go to :func:`node0_ops.evals.sandbox.run_python_tests` (``cpu_seconds``,
    ``memory_mb``, ``wall_timeout_s``). Score = fraction of tests passing.
    """
    from node0_ops.evals.answers import extract_code
    from node0_ops.evals.sandbox import run_python_tests

    code = extract_code(answer)
    if code is None:
        return CheckResult(False, 0.0, ["no Python code in the answer"])
    res = run_python_tests(code, tests, **limits)
    score = (res.n_tests - res.n_failed) / res.n_tests if res.n_tests else 0.0
    return CheckResult(res.passed, round(max(score, 0.0), 4), [] if res.passed else res.errors,
                       {"n_tests": res.n_tests, "n_failed": res.n_failed, "timed_out": res.timed_out,
                        "stderr_tail": res.stderr[-800:]})
