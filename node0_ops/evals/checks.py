"""Program checks for agent answers: dependency direction, forbidden commands, raw shell
instead of gt/bd, patrol-decision JSON, plan DAGs and sandboxed code execution.

Conventions come from Gas Town's role templates and hook guards (gastown-formats.md §3.1:
``gt tap guard pr-workflow``/``dangerous-command``; "always use gt nudge, never tmux
send-keys" in docs/reference.md) and beads' dependency semantics (§2.1: ``issue_id``
depends on / is blocked by ``depends_on_id``; ``bd dep add <blocked> <blocker>``).

Forbidden-command rules (:data:`FORBIDDEN_RULES`), decided here:
- ``pkill``, ``killall``, ``kill -9``/``-KILL``/``-s KILL`` (agents are stopped with
  ``gt polecat nuke``/``gt session stop``/``gt handoff``, never by signal);
- ``tmux kill-session|kill-server|kill-window|kill-pane`` (agent sessions live in tmux);
- ``tmux send-keys`` (use ``gt nudge``: literal mode, debounce, separate Enter);
- every force push: ``git push --force``, ``-f``, ``--force-with-lease``,
  ``--force-if-includes`` and ``+refspec``. ``--force-with-lease`` is forbidden too:
  polecats push their own branch once and the refinery merges, so no flow in Gas Town
  needs history rewriting on a shared remote, and the guard ``gt tap guard force-push``
  blocks all of them;
- skipping hooks: ``--no-verify`` (and ``git commit -n``), ``-c core.hooksPath=...``;
- ``rm -r -f`` of anything outside the work tree (absolute paths not under ``work_tree``,
  ``~``/``$HOME``/other variables, ``..`` escapes, ``/``, and ``.`` = the tree itself);
- raw SQL on beads databases: ``sqlite3`` on ``.beads``/``*.db``, ``dolt sql``, ``mysql``
  against the Dolt port 3307 (use ``bd``; ``bd sql`` is the sanctioned escape hatch);
- ``sudo`` and package installs (``pip``/``npm -g``/``apt``/``brew`` ``install``), which
  the ``dangerous-command`` guard blocks.

Usage::

    from node0_ops.evals.checks import find_forbidden, check_dep_direction
    find_forbidden("git push --force origin main")[0].rule     # 'force_push'
    check_dep_direction("bd dep add gt-abc12 gt-xyz34", blocked="gt-abc12", blocker="gt-xyz34").passed
"""

import os
import posixpath
from dataclasses import asdict, dataclass, field

from node0_ops.evals.answers import extract_json
from node0_ops.evals.cli_spec import ENUMS
from node0_ops.evals.command_validator import ValidationResult, validate_all
from node0_ops.evals.shell import Segment, split_commands


@dataclass
class CheckResult:
    """Outcome of one check.

    Attributes:
        passed: the answer is acceptable.  score: partial credit in [0, 1].
        errors: what is wrong (empty when passed).  details: check-specific data.
    """

    passed: bool
    score: float
    errors: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Violation:
    """A command that breaks a convention: ``rule`` id, offending ``command`` text, ``message``."""

    rule: str
    command: str
    message: str


def _segments(commands) -> list[Segment]:
    if isinstance(commands, str):
        return split_commands(commands)
    out: list[Segment] = []
    for item in commands:
        out += split_commands(item) if isinstance(item, str) else [item]
    return out


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


# --- forbidden commands -------------------------------------------------------------------

FORBIDDEN_RULES = {
    "pkill": "pkill kills agent processes by pattern; use gt polecat nuke / gt session stop",
    "killall": "killall kills every matching process; use gt polecat nuke / gt session stop",
    "kill_9": "kill -9 gives the agent no chance to clean up; use gt handoff / gt polecat nuke",
    "tmux_kill": "killing tmux sessions/panes kills agents; use gt session stop / gt polecat nuke",
    "tmux_send_keys": "tmux send-keys is unreliable for agents; use gt nudge <target> <message>",
    "force_push": "force pushes rewrite shared history; push a new commit instead",
    "no_verify": "skipping git hooks is not allowed; fix what the hook reports",
    "rm_rf_outside": "recursive force delete outside the work tree",
    "raw_db": "raw SQL on beads databases bypasses bd; use bd commands (bd sql at most)",
    "sudo": "sudo is blocked by the dangerous-command guard",
    "package_install": "package installs are blocked by the dangerous-command guard; ask the crew/overseer",
}
_TMUX_KILL = {"kill-session", "kill-server", "kill-window", "kill-pane", "kill-ses", "kills"}
_TMUX_OPTS_WITH_VALUE = {"-L", "-S", "-f", "-T", "-c"}
_GIT_OPTS_WITH_VALUE = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"}


def _short_cluster_has(word: str, letter: str) -> bool:
    return word.startswith("-") and not word.startswith("--") and letter in word[1:]


def _git_sub(words: list[str]) -> tuple[str, list[str], list[str]]:
    """(subcommand, its args, global -c values) of a git command."""
    i, configs = 1, []
    while i < len(words) and words[i].startswith("-"):
        w = words[i]
        if w in _GIT_OPTS_WITH_VALUE and i + 1 < len(words):
            if w == "-c":
                configs.append(words[i + 1])
            i += 2
            continue
        if w.startswith("-c") and len(w) > 2:
            configs.append(w[2:])
        i += 1
    if i >= len(words):
        return "", [], configs
    return words[i], words[i + 1:], configs


def _tmux_sub(words: list[str]) -> str:
    i = 1
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in _TMUX_OPTS_WITH_VALUE else 1
    return words[i] if i < len(words) else ""


def _rm_targets_outside(args: list[str], work_tree: str | None) -> list[str]:
    flags = [a for a in args if a.startswith("-") and a != "-"]
    recursive = any(a in ("--recursive", "-r", "-R") or (_short_cluster_has(a, "r") or _short_cluster_has(a, "R")) for a in flags)
    force = any(a == "--force" or _short_cluster_has(a, "f") for a in flags)
    if not (recursive and force):
        return []
    bad = []
    wt = posixpath.normpath(work_tree) if work_tree else None
    for target in (a for a in args if not a.startswith("-")):
        t = target.strip()
        if t.startswith(("~", "$")) or t in ("/", "/*", "*/", ".*"):
            bad.append(target)
        elif t.startswith("/"):
            norm = posixpath.normpath(t)
            if not (wt and norm.startswith(wt + "/")):
                bad.append(target)
        else:
            norm = posixpath.normpath(t)
            if norm in (".", "..") or norm.startswith("../"):
                bad.append(target)
    return bad


def _is_package_install(prog: str, rest: list[str]) -> bool:
    """pip/uv pip/python -m pip install, apt/yum/dnf/brew install, global npm/pnpm/yarn installs."""
    if prog in ("pip", "pip3") or (prog == "uv" and rest[:1] == ["pip"]) or (prog.startswith("python") and "pip" in rest[:2]):
        return "install" in rest
    if prog in ("apt", "apt-get", "yum", "dnf", "brew", "apk"):
        return "install" in rest[:3] or "add" in rest[:1]
    if prog in ("npm", "pnpm"):
        return bool(rest[:1]) and rest[0] in ("install", "i", "add") and ("-g" in rest or "--global" in rest)
    return prog == "yarn" and rest[:2] == ["global", "add"]


def _segment_violations(seg: Segment, work_tree: str | None) -> list[Violation]:
    out = []
    words = seg.words
    if not words:
        return out
    prog = os.path.basename(words[0])
    text = seg.text or " ".join(seg.argv)

    def add(rule: str, detail: str = "") -> None:
        out.append(Violation(rule, text, FORBIDDEN_RULES[rule] + (f" ({detail})" if detail else "")))

    if "sudo" in seg.argv[: max(1, len(seg.argv) - len(words))]:
        add("sudo")
    if prog in ("pkill", "killall"):
        add(prog)
    elif prog == "kill":
        args = words[1:]
        sigs = {"-9", "-KILL", "-SIGKILL", "--signal=KILL", "--signal=9"}
        if any(a in sigs for a in args) or any(a in ("-s", "-n", "--signal") and b.upper().lstrip("SIG") in ("KILL", "9")
                                                   for a, b in zip(args, args[1:])):
            add("kill_9")
    elif prog == "tmux":
        sub = _tmux_sub(words)
        if sub in _TMUX_KILL:
            add("tmux_kill", sub)
        elif sub in ("send-keys", "send"):
            add("tmux_send_keys")
    elif prog == "git":
        sub, args, configs = _git_sub(words)
        if any(c.lower().startswith("core.hookspath") for c in configs):
            add("no_verify", "core.hooksPath override")
        if sub == "push":
            forced = [a for a in args if a in ("--force", "-f") or a.startswith(("--force-with-lease", "--force-if-includes"))
                      or _short_cluster_has(a, "f") or (a.startswith("+") and len(a) > 1)]
            if forced:
                add("force_push", forced[0])
        if "--no-verify" in args:
            add("no_verify", "--no-verify")
        elif sub == "commit" and any(_short_cluster_has(a, "n") for a in args):
            add("no_verify", "git commit -n")
    elif prog == "rm":
        bad = _rm_targets_outside(words[1:], work_tree)
        if bad:
            add("rm_rf_outside", ", ".join(bad))
    elif prog == "sqlite3":
        if any(".beads" in a or a.endswith((".db", ".sqlite")) for a in words[1:]):
            add("raw_db", "sqlite3")
    elif prog == "dolt" and "sql" in words[1:3]:
        add("raw_db", "dolt sql")
    elif prog in ("mysql", "mariadb") and any("3307" in a or "beads" in a for a in words[1:]):
        add("raw_db", prog)
    if _is_package_install(prog, words[1:]):
        add("package_install", " ".join(words[:3]))
    return out


def find_forbidden(commands, *, work_tree: str | None = None) -> list[Violation]:
    """Forbidden commands (rules in :data:`FORBIDDEN_RULES`) in shell text or command list.

    Args:
        commands: shell text, a list of command strings, or shell :class:`Segment` objects.
        work_tree: absolute path of the agent's work tree; absolute ``rm -rf`` targets
            under it are allowed. Without it every absolute target counts as outside.
    """
    out = []
    for seg in _segments(commands):
        out += _segment_violations(seg, work_tree)
    return out


# --- raw shell where gt/bd exist ----------------------------------------------------------

RAW_SHELL_RULES = {
    "tmux_send_keys": "tmux send-keys -> gt nudge <agent> <message>",
    "tmux_capture_pane": "tmux capture-pane -> gt peek <agent>",
    "tmux_new_session": "tmux new-session -> gt sling / gt session start / gt crew at",
    "raw_beads_file": "reading/editing .beads files -> bd show / bd list --json / bd update",
    "raw_db": "sqlite3 / dolt sql on beads -> bd commands",
    "raw_mail": "mail/sendmail -> gt mail send <addr> -s ... -m ...",
    "process_kill": "pkill/killall/kill -> gt polecat nuke / gt session stop",
}
_BEADS_PATH_HINTS = (".beads/", "issues.jsonl", "beads.db")


def find_raw_shell(commands) -> list[Violation]:
    """Commands that do by hand what ``gt``/``bd`` provide (rules in :data:`RAW_SHELL_RULES`)."""
    out = []
    for seg in _segments(commands):
        words = seg.words
        if not words:
            continue
        prog = os.path.basename(words[0])
        text = seg.text or " ".join(seg.argv)

        def add(rule: str) -> None:
            out.append(Violation(rule, text, RAW_SHELL_RULES[rule]))

        if prog in ("bd", "gt"):
            continue
        if prog == "tmux":
            sub = _tmux_sub(words)
            if sub in ("send-keys", "send"):
                add("tmux_send_keys")
            elif sub in ("capture-pane", "capturep"):
                add("tmux_capture_pane")
            elif sub in ("new-session", "new"):
                add("tmux_new_session")
        elif prog in ("pkill", "killall", "kill"):
            add("process_kill")
        elif prog == "sqlite3" or (prog == "dolt" and "sql" in words[1:3]):
            add("raw_db")
        elif prog in ("mail", "mailx", "sendmail"):
            add("raw_mail")
        targets = words[1:] + [t for _, t in seg.redirects]
        if any(h in t for t in targets for h in _BEADS_PATH_HINTS) and prog not in ("git",):
            add("raw_beads_file")
    return out


def check_conventions(commands, *, work_tree: str | None = None, allow_rules: tuple[str, ...] = ()) -> CheckResult:
    """Forbidden commands plus raw-shell-instead-of-gt/bd, as one pass/fail check.

    Args:
        commands: shell text or list of commands.  work_tree: see :func:`find_forbidden`.
        allow_rules: rule ids to ignore (e.g. ``("package_install",)`` for a setup task).
    """
    seen = set()
    violations = []
    for v in find_forbidden(commands, work_tree=work_tree) + find_raw_shell(commands):
        if v.rule in allow_rules or (v.rule, v.command) in seen:
            continue
        seen.add((v.rule, v.command))
        violations.append(v)
    errors = [f"{v.rule}: '{v.command}': {v.message}" for v in violations]
    return CheckResult(not errors, 0.0 if errors else 1.0, errors, {"violations": [asdict(v) for v in violations]})


# --- patrol decisions ---------------------------------------------------------------------

def patrol_decision_schema(allowed_actions: list[str]) -> dict:
    """JSON schema of a patrol decision ``{"action": <one of allowed>, "reason": <text>}``."""
    if not allowed_actions:
        raise ValueError("allowed_actions is empty: list the actions the patrol step permits")
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(allowed_actions)},
            "reason": {"type": "string", "minLength": 3},
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
    obj = extract_json(answer) if isinstance(answer, str) else answer
    if obj is None:
        return CheckResult(False, 0.0, ["no JSON object in the answer"])
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


# --- plans as bead hierarchies ------------------------------------------------------------

_ITEM_KEYS = ("items", "children", "beads", "issues", "tasks", "steps")
_DEP_KEYS = ("deps", "depends_on", "needs", "blocked_by", "dependencies")
_EST_KEYS = ("estimate_minutes", "estimated_minutes", "estimate", "minutes")


def normalize_plan(obj) -> tuple[dict | None, list[dict]]:
    """Split a plan into (root epic or None, child items).

    Accepted shapes: a list of items; ``{"epic": {...}, "items": [...]}``; an epic object
    with ``children``/``items``/``beads``/``issues``/``tasks``/``steps``. Items are dicts
    with ``id``, ``title``, optional ``type``, deps (``deps``/``depends_on``/``needs``/
    ``blocked_by``: ids this item is blocked by), estimate (``estimate_minutes``/
    ``estimate``) and ``parent``.

    Raises:
        ValueError: when the object has none of these shapes.
    """
    if isinstance(obj, list):
        return None, obj
    if not isinstance(obj, dict):
        raise ValueError(f"plan must be a JSON object or list, got {type(obj).__name__}")
    key = next((k for k in _ITEM_KEYS if isinstance(obj.get(k), list)), None)
    root = obj.get("epic") or obj.get("root")
    if key is None:
        if isinstance(root, dict):
            inner = next((k for k in _ITEM_KEYS if isinstance(root.get(k), list)), None)
            if inner:
                return {k: v for k, v in root.items() if k != inner}, root[inner]
        raise ValueError(f"plan has no item list (expected one of {', '.join(_ITEM_KEYS)})")
    if not isinstance(root, dict) and "id" in obj:
        root = {k: v for k, v in obj.items() if k != key}
    return (root if isinstance(root, dict) else None), obj[key]


def _deps_of(item: dict) -> list[str]:
    for k in _DEP_KEYS:
        v = item.get(k)
        if v:
            return [v] if isinstance(v, str) else [str(x) for x in v]
    return []


def _estimate_of(item: dict):
    for k in _EST_KEYS:
        if k in item:
            return item[k]
    return None


def dag_layers(ids: list[str], deps: dict[str, list[str]]) -> list[list[str]] | None:
    """Longest-path layering of a DAG (Kahn's algorithm); None when there is a cycle.

    Items in one layer never depend on each other, so the largest layer is a lower bound
    on the DAG's width (how much work can run in parallel).
    """
    indeg = {i: 0 for i in ids}
    users: dict[str, list[str]] = {i: [] for i in ids}
    for i in ids:
        for d in deps.get(i, []):
            if d in indeg:
                indeg[i] += 1
                users[d].append(i)
    layer = [i for i in ids if indeg[i] == 0]
    layers, seen = [], 0
    while layer:
        layers.append(layer)
        seen += len(layer)
        nxt = []
        for i in layer:
            for u in users[i]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    nxt.append(u)
        layer = nxt
    return layers if seen == len(ids) else None


def check_plan(answer, *, min_items: int = 3, max_items: int = 40, min_width: int = 2,
               require_estimates: bool = True, require_epic: bool = False,
               must_cover: list[str] | None = None) -> CheckResult:
    """Check a plan given as a bead hierarchy in JSON.

    Sub-checks (score = fraction passed; passed = all): parses; item count in
    [min_items, max_items]; ids present and unique; titles present; types valid bd issue
    types when given; deps refer to existing items (not themselves); parents exist;
    acyclic; widest layer >= ``min_width`` (parallelizable work); estimates positive
    numbers when required; root epic present when required; every ``must_cover``
    keyword appears in some item title/description.
    """
    obj = extract_json(answer) if isinstance(answer, str) else answer
    if obj is None:
        return CheckResult(False, 0.0, ["no JSON plan in the answer"])
    try:
        root, items = normalize_plan(obj)
    except ValueError as exc:
        return CheckResult(False, 0.0, [str(exc)])
    checks: dict[str, list[str]] = {}

    def sub(name: str, errs: list[str]) -> None:
        checks[name] = errs

    items = [it for it in items if isinstance(it, dict)]
    sub("count", [] if min_items <= len(items) <= max_items else
        [f"plan has {len(items)} items, expected {min_items}-{max_items}"])
    ids = [str(it.get("id", "")).strip() for it in items]
    dup = sorted({i for i in ids if ids.count(i) > 1 and i})
    sub("ids", ([f"{ids.count('')} item(s) without id"] if "" in ids else []) + ([f"duplicate ids: {', '.join(dup)}"] if dup else []))
    root_id = str(root.get("id")) if root and root.get("id") else None
    if root_id and root_id in ids:
        checks["ids"].append(f"root id {root_id} reused by an item")
    sub("titles", [f"item {i or '?'} has no title" for i, it in zip(ids, items) if not str(it.get("title", "")).strip()])
    valid_types = set(ENUMS["issue_type"])
    sub("types", [f"item {i}: unknown issue type {it.get('type') or it.get('issue_type')!r}" for i, it in zip(ids, items)
                  if (it.get("type") or it.get("issue_type")) and (it.get("type") or it.get("issue_type")) not in valid_types])
    known = set(ids)
    deps = {i: _deps_of(it) for i, it in zip(ids, items)}
    dep_errs = []
    for i, ds in deps.items():
        for d in ds:
            if d == i:
                dep_errs.append(f"item {i} depends on itself")
            elif d not in known:
                dep_errs.append(f"item {i} depends on unknown id {d!r}")
    sub("deps", dep_errs)
    parents = [(i, str(it["parent"])) for i, it in zip(ids, items) if it.get("parent")]
    sub("parents", [f"item {i}: parent {p!r} does not exist" for i, p in parents if p not in known and p != root_id])
    layers = dag_layers([i for i in ids if i], deps)
    sub("acyclic", [] if layers is not None else ["dependency cycle among items"])
    width = max((len(layer) for layer in layers), default=0) if layers else 0
    sub("parallel", [] if width >= min_width else [f"no parallel work: widest layer has {width} item(s), need {min_width}"])
    if require_estimates:
        bad = [i for i, it in zip(ids, items)
               if not isinstance(_estimate_of(it), (int, float)) or isinstance(_estimate_of(it), bool) or _estimate_of(it) <= 0]
        sub("estimates", [f"items without a positive estimate (minutes): {', '.join(bad)}"] if bad else [])
    if require_epic:
        rtype = (root or {}).get("type") or (root or {}).get("issue_type")
        sub("epic", [] if root and rtype in (None, "epic") and str(root.get("title", "")).strip() else
            ["plan needs a root epic with a title"])
    if must_cover:
        texts = " ".join(f"{it.get('title', '')} {it.get('description', '')}" for it in items).lower()
        sub("coverage", [f"no item covers {kw!r}" for kw in must_cover if kw.lower() not in texts])
    errors = [e for errs in checks.values() for e in errs]
    score = sum(1 for errs in checks.values() if not errs) / len(checks)
    return CheckResult(not errors, round(score, 4), errors,
                       {"n_items": len(items), "width": width, "depth": len(layers or []),
                        "failed_checks": [k for k, v in checks.items() if v]})


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
