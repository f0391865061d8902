"""Checker registry: ``checker name -> fn(answer, args) -> CheckResult`` used by suite tasks.

| name | ``checker_args`` | what passes |
|---|---|---|
| ``commands`` | ``expect`` (matchers, :mod:`.intents`), ``ordered``, ``forbid`` (matchers), ``dep`` (``{blocked, blocker, type}``), ``conventions`` (bool, default true), ``allow_rules``, ``work_tree``, ``require_valid`` (default true), ``min_commands`` (default 1) | every bd/gt command valid, every ``expect`` matched (in order if ``ordered``), no ``forbid`` match, dependency direction right, no forbidden/raw-shell command |
| ``pr_description`` | ``required_sections`` (heading keywords), ``mention`` (strings), ``min_words``, ``forbid_patterns`` (regexes) | markdown with those non-empty sections, mentions, length |
| ``patrol_decision`` | ``allowed_actions``, ``accepted_actions``, optional ``schema``, ``reason_mentions`` | JSON ``{"action","reason"}`` valid against the task schema, action accepted, reason names one of ``reason_mentions`` (when given) |
| ``plan_dag`` | kwargs of :func:`.checks.check_plan` | plan JSON is a valid, parallelizable, estimated DAG |
| ``code_exec`` | ``tests`` (Python source), optional ``cpu_seconds``/``memory_mb``/``wall_timeout_s`` | tests pass in the sandbox |
| ``corpus_commands`` | ``reference_commands`` (command strings) | every reference bd/gt intent is covered by a valid command of the answer, no forbidden command |

Score is partial credit in [0, 1]; ``passed`` is what the suite counts.

Usage::

    from node0_ops.evals.checkers import run_checker
    res = run_checker("commands", "```bash\\nbd close gt-abc12 -r done\\n```",
                      {"expect": [{"cmd": "bd close", "args": ["gt-abc12"], "flags": {"reason": "*"}}]})
"""

import re
from collections.abc import Callable

from node0_ops.evals.answers import extract_commands
from node0_ops.evals.checks import (CheckResult, check_code, check_conventions, check_dep_direction,
                                    check_patrol_decision, check_plan)
from node0_ops.evals.intents import command_intent, find_match, intent_matches, matches, parse_commands

Checker = Callable[[str, dict], CheckResult]


def _combine(parts: dict[str, list[str]], details: dict | None = None) -> CheckResult:
    errors = [e for errs in parts.values() for e in errs]
    score = sum(1 for errs in parts.values() if not errs) / len(parts) if parts else 0.0
    return CheckResult(not errors, round(score, 4), errors, details or {})


def check_commands(answer: str, args: dict) -> CheckResult:
    """The ``commands`` checker (see the module table)."""
    texts = extract_commands(answer)
    cmds = parse_commands(texts)
    parts: dict[str, list[str]] = {}
    n_min = int(args.get("min_commands", 1))
    parts["found"] = [] if len(cmds) >= n_min else [f"expected at least {n_min} command(s), found {len(cmds)}"]
    if args.get("require_valid", True):
        parts["valid"] = [f"invalid: {e}" for c in cmds if c.validation and not c.validation.ok for e in c.validation.errors]
    pos = 0
    for k, matcher in enumerate(args.get("expect", [])):
        idx = find_match(matcher, cmds, pos if args.get("ordered") else 0)
        label = matcher.get("cmd") or " | ".join(m.get("cmd", "?") for m in matcher.get("any_of", []))
        parts[f"expect[{k}]"] = [] if idx is not None else [f"missing expected command: {label} {_describe(matcher)}".rstrip()]
        if idx is not None and args.get("ordered"):
            pos = idx + 1
    for k, matcher in enumerate(args.get("forbid", [])):
        hits = [c.text for c in cmds if matches(matcher, c)]
        parts[f"forbid[{k}]"] = [f"must not run: '{h}'" for h in hits]
    if args.get("dep"):
        dep = args["dep"]
        parts["dep"] = check_dep_direction(texts, dep["blocked"], dep["blocker"], dep.get("type", "blocks")).errors
    if args.get("conventions", True):
        parts["conventions"] = check_conventions(texts, work_tree=args.get("work_tree"),
                                                 allow_rules=tuple(args.get("allow_rules", ()))).errors
    res = _combine(parts, {"commands": [c.text for c in cmds]})
    if not cmds:
        res.score = 0.0  # validity/convention sub-checks hold vacuously without commands: no credit
    return res


def _describe(matcher: dict) -> str:
    bits = [" ".join(map(str, matcher.get("args", [])))]
    bits += [f"--{k}" + ("" if v == "*" else f"={v}") for k, v in (matcher.get("flags") or {}).items()]
    return " ".join(b for b in bits if b)


_HEADING = re.compile(r"^\s*(?:#{1,6}\s+(.+?)\s*#*\s*$|\*\*(.+?)\*\*:?\s*$|([A-Z][A-Za-z /]+):\s*$)")


def markdown_sections(text: str) -> dict[str, str]:
    """Heading (lower-case) -> body text, for ``#`` headings, ``**Bold**`` lines and ``Title:`` lines."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            current = (m.group(1) or m.group(2) or m.group(3)).strip().lower()
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def check_pr_description(answer: str, args: dict) -> CheckResult:
    """The ``pr_description`` checker (see the module table)."""
    sections = markdown_sections(answer)
    parts: dict[str, list[str]] = {}
    for kw in args.get("required_sections", []):
        body = next((b for h, b in sections.items() if kw.lower() in h), None)
        parts[f"section:{kw}"] = ([f"missing section '{kw}'"] if body is None else
                                  [f"section '{kw}' is empty"] if not body.strip() else [])
    for s in args.get("mention", []):
        parts[f"mention:{s}"] = [] if s.lower() in answer.lower() else [f"does not mention {s!r}"]
    n_words = len(re.findall(r"\w+", answer))
    if args.get("min_words"):
        parts["length"] = [] if n_words >= args["min_words"] else [f"{n_words} words, need at least {args['min_words']}"]
    for rx in args.get("forbid_patterns", []):
        parts[f"forbid:{rx}"] = [f"contains forbidden pattern {rx!r}"] if re.search(rx, answer, re.I) else []
    return _combine(parts, {"sections": sorted(sections), "words": n_words})


def check_patrol(answer: str, args: dict) -> CheckResult:
    """The ``patrol_decision`` checker.

    Optional ``reason_mentions`` (list of strings: polecat names, bead ids, test names ...): a
    right action passes only when its ``reason`` names at least one of them (case-insensitive),
    so a generic reason ("seems fine") does not count as a decision from evidence (score 0.75).
    """
    res = check_patrol_decision(answer, args["allowed_actions"], args.get("accepted_actions"), args.get("schema"))
    cites = args.get("reason_mentions") or []
    if res.passed and cites:
        reason = str((res.details.get("parsed") or {}).get("reason", "")).lower()
        if not any(str(c).lower() in reason for c in cites):
            return CheckResult(False, 0.75, [f"reason does not cite the evidence (name one of: {', '.join(map(str, cites))})"],
                               res.details)
    return res


def check_plan_dag(answer: str, args: dict) -> CheckResult:
    """The ``plan_dag`` checker."""
    return check_plan(answer, **args)


def check_code_exec(answer: str, args: dict) -> CheckResult:
    """The ``code_exec`` checker."""
    limits = {k: args[k] for k in ("cpu_seconds", "memory_mb", "wall_timeout_s") if k in args}
    return check_code(answer, args["tests"], **limits)


def check_corpus_commands(answer: str, args: dict) -> CheckResult:
    """The ``corpus_commands`` checker: key intents of the reference bd/gt commands."""
    refs = [i for i in (command_intent(c) for c in parse_commands(args["reference_commands"])) if i]
    if not refs:
        raise ValueError("corpus_commands task has no valid bd/gt reference command")
    texts = extract_commands(answer)
    cmds = parse_commands(texts)
    cands = [i for i in (command_intent(c) for c in cmds) if i]
    missing = [r for r in refs if not any(intent_matches(r, c) for c in cands)]
    invalid = [f"invalid: {e}" for c in cmds if c.validation and not c.validation.ok for e in c.validation.errors]
    conv = check_conventions(texts).errors
    errors = [f"missing intent: {r.describe()}" for r in missing] + invalid + conv
    score = (len(refs) - len(missing)) / len(refs)
    if invalid or conv:
        score *= 0.5
    return CheckResult(not errors, round(score, 4), errors,
                       {"reference": [r.describe() for r in refs], "answer": [c.describe() for c in cands]})


CHECKERS: dict[str, Checker] = {
    "commands": check_commands,
    "pr_description": check_pr_description,
    "patrol_decision": check_patrol,
    "plan_dag": check_plan_dag,
    "code_exec": check_code_exec,
    "corpus_commands": check_corpus_commands,
}


def run_checker(name: str, answer: str, args: dict) -> CheckResult:
    """Run the named checker.

    Raises:
        KeyError: unknown checker name (the message lists the known ones).
    """
    if name not in CHECKERS:
        raise KeyError(f"unknown checker {name!r}; known: {', '.join(sorted(CHECKERS))}")
    return CHECKERS[name](answer, args)
