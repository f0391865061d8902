"""Rule extraction: patrol/triage formula step prose -> ``Rule`` s (condition -> action).

A step's text (title + description, code fences kept aside) is searched for the sentences
that say what to do under which evidence. Two shapes are read:

- **Sentences** ("If zombies detected: file a death warrant", "A rig with no witness
  session gets `gt witness start`", "Dead agent process -> restart session"): each rule
  family (:data:`FAMILIES`) names the clauses it looks for per *outcome* (``hit``, ``clear``,
  ``over`` ...); the action label of an outcome is read from the clause's consequent with the
  action lexicon (:data:`ACTION_LEXICON`), so the formula's own words give the label.
- **Decision tables** (markdown ``| condition | ... | action |``, e.g. Boot's decision
  matrix, the dog timeout table, the health-scan cycles table): every row becomes a rule row
  with its numeric range (``< 5 min``, ``5-15 min``, ``> 15 min``, ``2x - 5x``, ``5+``) and flags.
- **Heading blocks and numbered steps** ("**Server down (CRITICAL):**" + its command, "If rebase
  FAILED with conflicts: 1. Abort ... 3. Create conflict-resolution task"): the block under the
  heading is the consequent (:func:`_section`), for steps that state one reaction per signal.

Thresholds come from the text when it states them ("older than 10 minutes", ">80%",
"more than an hour") or from the formula's ``[vars]`` defaults (``{{idle_minutes}}``).
A step whose prose gives no parseable rule is returned as a skip reason instead.

Formula format: ``shared/docs/gastown-formats.md`` §1; the prose is gastown's
``internal/formula/formulas/mol-*-patrol``/``mol-boot-triage``/``mol-dog-*`` and the
embedded sample town's versions.

Usage::

    from node0_ops.corpus.scenarios.rules import extract_rules
    rules, skips = extract_rules(formula_payload)      # skips: [(step_id, reason)]
"""

import re
from dataclasses import dataclass, field

# Ordered: the first pattern found (leftmost in the consequent, ties by order) names the action.
ACTION_LEXICON: list[tuple[str, str]] = [
    (r"death warrant|warrant file", "file-warrant"),
    (r"report\w* (?:it )?to the (?:rig )?witness", "notify-witness"),
    (r"FIX_NEEDED", "fix-needed"),
    (r"conflict[- ]resolution task|resolve merge conflicts", "conflict-task"),
    (r"type=bug|fil(?:e|ing) (?:a )?(?:new )?bug|pre-existing failure", "file-bug"),
    (r"\bHALT\b|do not commit|do not proceed to commit", "halt"),
    (r"close the MR bead|close the mr\b", "close-mr"),
    (r"\breset (?:the|its) bead|--status=open --assignee", "reset-bead"),
    (r"dispatch to (?:a )?dog|sling mol-orphan-scan|gt dog dispatch|dispatch a (?:compactor|backup)", "dispatch-dog"),
    (r"kill-imposters", "kill-imposters"),
    (r"gt dolt cleanup|dispatch cleanup", "cleanup"),
    (r"check-recovery", "recover"),
    (r"\bretr(?:y|ied)\b", "retry"),
    (r"\bmq reject\b|\breject\b|goes back", "reject"),
    (r"\barchive\b", "archive"),
    (r"\bresolve\b[^.\n]*gates?", "resolve-gate"),
    (r"DROP DATABASE|clean up via sql", "cleanup"),
    (r"\bcheckpoint\b|WIP: checkpoint", "checkpoint"),
    (r"\bescalat\w*|mail (?:the )?(?:deacon|mayor)|alert", "escalate"),
    (r"\binterrupt\b", "interrupt"),
    (r"\bwake\b", "wake"),
    (r"\brestart(?:ed)?\b", "restart"),
    (r"\bnudge\w*", "nudge"),
    (r"\bhand ?off\b|prepare for handoff|gt handoff", "handoff"),
    (r"\bstart\b", "start"),
    (r"proceed to merge|proceed with the merge|\bmerge\b", "merge"),
    (r"\bwarn\b|log warning", "warn"),
    (r"\bclose\b", "reap"),
    (r"\bnothing\b|no action|do not alert|leave alone|skip|can continue|continue|note it|check again",
     "continue"),
]

#: Actions every patrol prompt offers besides the step's own rule actions.
GENERAL_ACTIONS = ("continue", "nudge", "escalate")


_NOOP = re.compile(r"\bdo not alert\b|no action needed|leave alone|nothing to (?:do|clean|escalate)", re.I)
_NEGATED = re.compile(r"\b(?:do not|don't|never|abort)\s+(?!alert|commit|proceed)\w+(?:\s+(?:the|a|this|it|mr|bead|branch))*", re.I)


def action_of(text: str) -> str | None:
    """Action label of a consequent ``text`` via :data:`ACTION_LEXICON` (leftmost match), else None.

    An explicit no-op ("Do NOT alert", "No action needed", "leave alone") gives ``continue``;
    other negated verbs ("Do NOT nuke", "Abort merge") are dropped before matching.
    """
    text = _NEGATED.sub(" ", _NOOP.sub(" nothing ", text or ""))
    best = None
    for i, (rx, label) in enumerate(ACTION_LEXICON):
        m = re.search(rx, text, re.I)
        if m and (best is None or (m.start(), i) < best[0]):
            best = ((m.start(), i), label)
    return best[1] if best else None


@dataclass(frozen=True)
class TableRow:
    """One decision-table row: the raw cells, the action label and the parsed numeric range.

    ``lo``/``hi`` are in the table's unit (minutes, timeout multiples, cycles); ``None`` = open.
    ``flags`` are lower-case condition words found in the row (dead, active, static, mail ...).
    """

    cells: tuple[str, ...]
    action: str
    lo: float | None
    hi: float | None
    flags: frozenset


@dataclass(frozen=True)
class Rule:
    """A condition -> action rule of one formula step.

    Attributes:
        formula / step_id: where it came from.
        family: the scenario family key (``zombie``, ``idle``, ``boot-table`` ...).
        text: the sentence(s) of the step it was read from (lineage).
        actions: ``{outcome: action label}``, e.g. ``{"hit": "file-warrant", "clear": "continue"}``.
        threshold: numeric threshold in ``unit`` (minutes, percent, count, ratio) or None.
        threshold_src: ``text`` (stated in the sentence), ``var:<name>`` (a ``[vars]`` default) or "".
        rows: decision-table rows (table families only).
        extra: other parsed numbers (e.g. ``hung``: minutes after which a session counts as hung).
    """

    formula: str
    step_id: str
    family: str
    text: str
    actions: dict
    threshold: float | None = None
    unit: str = ""
    threshold_src: str = ""
    rows: tuple = ()
    extra: dict = field(default_factory=dict)

    def allowed(self) -> list[str]:
        """The actions a prompt for this rule offers: the rule's own plus :data:`GENERAL_ACTIONS`."""
        own = [a for a in self.actions.values()] + [r.action for r in self.rows]
        return sorted(set(own) | set(GENERAL_ACTIONS))


# ---- text helpers -------------------------------------------------------------------------

_FENCE = re.compile(r"```.*?```", re.S)


def prose(text: str) -> str:
    """Step text without fenced code blocks (commands are not prose rules)."""
    return _FENCE.sub("\n", text or "")


def with_commands(text: str) -> str:
    """Step text with each fenced block's commands as ``$ cmd`` lines (comments and blank lines dropped)."""
    def sub(m):
        body = m.group(0).split("\n")[1:-1]
        cmds = [f"$ {ln.strip()}" for ln in body if ln.strip() and not ln.strip().startswith("#")]
        return "\n" + "\n".join(cmds[:6]) + "\n"
    return _FENCE.sub(sub, text or "")


_BLOCK_START = re.compile(r"\s*(?:[-*+]\s|\d+\.\s|\||#|\*\*|\$ |```)")


def unwrap(text: str) -> str:
    """Join hard-wrapped paragraph lines (list items, table rows, headers and commands stay separate)."""
    out = []
    for line in (text or "").split("\n"):
        if (out and out[-1].strip() and line.strip() and not _BLOCK_START.match(line)
                and not out[-1].rstrip().endswith((":", "**")) and not out[-1].lstrip().startswith(("|", "$ "))):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def clause(text: str, pattern: str, follow: int = 3) -> str | None:
    """The line matching ``pattern`` (case-insensitive) plus up to ``follow`` following non-empty lines
    of its block (the consequent of an "If X:" header); None when no line matches."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.search(pattern, line, re.I)
        if m:
            start = max(line.rfind(". ", 0, m.start()) + 2, 0) if line.rfind(". ", 0, m.start()) >= 0 else 0
            out = [line[start:].strip()]
            if re.match(r"\s*[-*+]\s", line) and not line.rstrip().endswith((":", ":**")):
                return out[0]
            for nxt in lines[i + 1:i + 1 + follow]:
                if not nxt.strip():
                    if len(out) > 1:
                        break
                    continue
                if re.match(r"\s*\*\*If\b|\s*If\b", nxt) and len(out) > 1:
                    break
                out.append(nxt.strip())
            return " ".join(out)
    return None


def consequent(cl: str, pattern: str) -> str:
    """The part of clause ``cl`` after its condition: after the match of ``pattern`` and the next
    ``:``, ``,``, ``→``/``->`` or ``gets``; the whole rest when none follows."""
    m = re.search(pattern, cl, re.I)
    rest = cl[m.end():] if m else cl
    sep = re.search(r"\*\*|:|→|->|,|\.\s|\bgets\b|\bmeans\b|\bthen\b", rest)
    return rest[sep.end():] if sep else rest


def minutes(num: str, unit: str) -> float:
    """``num`` ``unit`` (s/sec/seconds, m/min/minutes, h/hour) in minutes."""
    n = float(num) if num not in ("an", "a") else 1.0
    u = unit.lower()
    if u.startswith("s"):
        return n / 60
    if u.startswith("h"):
        return n * 60
    return n


def var_default(vars_: dict, name: str) -> str | None:
    spec = (vars_ or {}).get(name)
    if isinstance(spec, dict):
        d = spec.get("default")
        return None if d in (None, "") else str(d)
    return None if spec in (None, "") else str(spec)


def resolve_vars(text: str, vars_: dict) -> tuple[str, list[str]]:
    """Replace ``{{var}}`` by its ``[vars]`` default; returns the text and the names replaced."""
    used = []

    def sub(m):
        d = var_default(vars_, m.group(1))
        if d is None:
            return m.group(0)
        used.append(m.group(1))
        return d
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", sub, text), used


# ---- decision tables ----------------------------------------------------------------------

_RANGE = [
    (re.compile(r"(\d+(?:\.\d+)?)\s*x?\s*-\s*(\d+(?:\.\d+)?)"), "between"),
    (re.compile(r"(?:<|under|less than)\s*(\d+(?:\.\d+)?)"), "below"),
    (re.compile(r"(?:>|over|more than)\s*(\d+(?:\.\d+)?)"), "above"),
    (re.compile(r"(\d+(?:\.\d+)?)\s*\+"), "above"),
]
_FLAG_WORDS = ("dead", "no session", "active", "changing", "static", "stuck", "error", "no mail",
               "has mail", "idle")


def parse_range(cell: str) -> tuple[float | None, float | None]:
    """Numeric range of a table cell: ``< 5 min`` -> (None, 5); ``5-15`` -> (5, 15); ``> 30m``/``5+`` -> (30, None)."""
    for rx, kind in _RANGE:
        m = rx.search(cell)
        if not m:
            continue
        if kind == "between":
            return float(m.group(1)), float(m.group(2))
        if kind == "below":
            return None, float(m.group(1))
        return float(m.group(1)), None
    return None, None


def parse_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Markdown tables of ``text`` as ``(header cells, body rows)`` (separator rows dropped)."""
    out, cur = [], []
    for line in (text or "").split("\n") + [""]:
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            cur.append([c.strip() for c in s.strip("|").split("|")])
            continue
        if len(cur) >= 3:
            body = [r for r in cur[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            out.append((cur[0], body))
        cur = []
    return out


def table_rows(header: list[str], body: list[list[str]]) -> list[TableRow]:
    """Rows of a decision table whose last column is the action (``Action``/``decision``/``Suggested Action``)."""
    rows = []
    for cells in body:
        if len(cells) != len(header):
            continue
        act_cell = cells[-1]
        label = action_of(act_cell)
        if label is None:
            continue
        cond = " ".join(cells[:-1]).lower()
        lo, hi = None, None
        for c in cells[:-1]:
            lo, hi = parse_range(c)
            if lo is not None or hi is not None:
                break
        flags = frozenset(w for w in _FLAG_WORDS if w in cond)
        rows.append(TableRow(tuple(cells), label, lo, hi, flags))
    return rows


# ---- rule families ------------------------------------------------------------------------

def _find(text: str, pattern: str, follow: int = 8, fallback: str | None = None
          ) -> tuple[str | None, str | None]:
    """``(clause, action)``: the consequent's action, else ``fallback``, else the clause's own verb
    (imperative sentences: "Resolve timer gates that expired")."""
    cl = clause(text, pattern, follow)
    if cl is None:
        return None, None
    return cl, action_of(consequent(cl, pattern)) or fallback or action_of(cl)


def _sentence_rule(formula, step, text, family, outcomes: dict[str, tuple[str, str | None]],
                   required: str = "hit") -> Rule | str:
    """Rule from clauses: ``outcomes = {outcome: (pattern, fallback action when the clause is found
    but names no action)}``. Returns a skip reason when the ``required`` outcome is missing."""
    actions, texts = {}, []
    for outcome, (pat, fallback) in outcomes.items():
        cl, act = _find(text, pat, fallback=fallback)
        if cl is None:
            continue
        if act:
            actions[outcome] = act
            texts.append(cl)
    if required not in actions:
        return f"{family}: no '{outcomes[required][0]}' sentence with an action"
    return Rule(formula, step, family, " | ".join(dict.fromkeys(texts))[:900], actions)


def _threshold(text: str, patterns: list[str]) -> float | None:
    for pat in patterns:
        m = re.search(pat, text, re.I)
        if m:
            g = m.groups()
            return minutes(g[0], g[1]) if len(g) > 1 else float(g[0])
    return None


def _var_threshold(p: str, pattern: str, vars_: dict) -> tuple[float | None, str]:
    """Number after ``pattern`` in the raw step text ``p``: a literal (``text``) or a ``{{var}}``
    resolved from its default (``var:<name>``); ``(None, "")`` when absent or unparseable."""
    m = re.search(pattern + r"\s*\{\{\s*(\w+)\s*\}\}", p, re.I)
    if m and var_default(vars_, m.group(1)) is not None:
        num = re.match(r"\d+(?:\.\d+)?", var_default(vars_, m.group(1)))
        return (float(num.group(0)), f"var:{m.group(1)}") if num else (None, "")
    m = re.search(pattern + r"\s*(\d+(?:\.\d+)?)", p, re.I)
    return (float(m.group(1)), "text") if m else (None, "")


def _with(rule: Rule | str, **kw) -> Rule | str:
    if isinstance(rule, str):
        return rule
    d = {**rule.__dict__, **kw}
    return Rule(**d)


def _zombie(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "zombie", {
        "hit": (r"if zombies detected|a zombie is", None),
        "clear": (r"if no zombies", "continue")})
    if isinstance(r, str):
        return r
    if "hit" in r.actions and r.actions["hit"] in ("continue",):
        return "zombie: the zombie sentence names no action"
    thr = _threshold(t, [r"older than (\d+) (min)", r"idle\s*>\s*(\d+)\s*(m)\b"])
    return _with(r, threshold=thr, unit="min" if thr else "", threshold_src="text" if thr else "")


def _idle(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "idle", {
        "hit": (r"polecat idle|alive but potentially idle|no recent progress|idle with a hook", "nudge"),
        "over": (r"second nudge without progress|no output \d+\+? min", None),
        "third": (r"third strike", None)})
    if isinstance(r, str):
        return r
    thr, src = None, ""
    m = re.search(r"idle longer than \{\{(\w+)\}\}", p, re.I) or re.search(r"\{\{(idle_minutes)\}\}", p)
    if m and var_default(vars_, m.group(1)):
        thr, src = float(var_default(vars_, m.group(1))), f"var:{m.group(1)}"
    elif var_default(vars_, "idle_minutes"):
        thr, src = float(var_default(vars_, "idle_minutes")), "var:idle_minutes"
    hung = _threshold(t, [r"no output (\d+)\+? (min)"])
    extra = {"hung": hung} if hung else {}
    return _with(r, threshold=thr, unit="min" if thr else "", threshold_src=src, extra=extra)


def _dead(f, s, t, p, vars_):
    return _sentence_rule(f, s, t, "dead-session", {
        "hit": (r"session died with work|dead agent process|dead sessions with active state", None),
        "done": (r"done polecat \(bead closed\)", None),
        "pending-mr": (r"polecat with pending mr", None)})


def _refinery_stall(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "refinery-stall", {
        "hit": (r"oldest mr has waited more than", None)})
    if isinstance(r, str):
        return r
    cl = r.text
    parts = re.split(r";", cl)
    actions = dict(r.actions)
    for part in parts:
        if re.search(r"session is gone|refinery .*gone", part, re.I):
            a = action_of(consequent(part, r"gone"))
            if a:
                actions["gone"] = a
        if re.search(r"waited more than", part, re.I):
            a = action_of(consequent(part, r"waited more than [^,]*"))
            if a:
                actions["hit"] = a
    thr = _threshold(cl, [r"more than (an|a|\d+) (hour|min)"])
    return _with(r, actions=actions, threshold=thr, unit="min", threshold_src="text")


def _deacon_down(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "deacon-down", {
        "hit": (r"running: false. AND heartbeat .stale", None),
        "fresh": (r"running: false. AND heartbeat .fresh", None),
        "alive": (r"running: true. →", None),
        "no-heartbeat": (r"no heartbeat \(heartbeat field is null\)", None),
        "mayor-dead": (r"If .false., the mayor is dead", None)})
    if isinstance(r, str):
        return r
    thr = _threshold(t, [r"age < (\d+) (min)"])
    return _with(r, threshold=thr, unit="min", threshold_src="text" if thr else "")


def _health(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "health", {
        "hit": (r"rig with no witness session", None),
        "stuck": (r"refinery stuck for more than", "nudge")})
    if isinstance(r, str):
        return r
    actions = dict(r.actions)
    if re.search(r"gets a nudge, then an escalation", r.text, re.I):
        actions["stuck-again"] = "escalate"
    m = re.search(r"stuck for more than \{\{(\w+)\}\}", p) or re.search(r"stuck for more than (\d+)", p)
    thr, src = None, ""
    if m and m.group(1).isdigit():
        thr, src = float(m.group(1)), "text"
    elif m and var_default(vars_, m.group(1)):
        thr, src = float(var_default(vars_, m.group(1))), f"var:{m.group(1)}"
    return _with(r, actions=actions, threshold=thr, unit="min" if thr else "", threshold_src=src)


def _tests(f, s, t, p, vars_):
    return _sentence_rule(f, s, t, "tests", {
        "hit": (r"if branch caused it|a red gate", None),
        "pre-existing": (r"if pre-existing on the target", None),
        "flaky": (r"flaky test may be", None),
        "clear": (r"if all checks and tests passed", None)})


def _conflict(f, s, t, p, vars_):
    outcomes = {"hit": (r"if rebase failed with conflicts|a conflict means", None),
                "gone": (r"if the branch no longer exists", None),
                "clear": (r"if rebase succeeded", "continue")}
    r = _sentence_rule(f, s, t, "rebase-conflict", outcomes)
    if isinstance(r, Rule):
        return r
    # numbered-steps form: "If rebase FAILED with conflicts: 1. Abort ... 3. Create conflict-resolution task"
    block = _section(t, r"^if rebase failed with conflicts")
    act = action_of(consequent(block, r"conflicts")) if block else None
    if act is None:
        return r
    actions, texts = {"hit": act}, [block]
    for outcome in ("gone", "clear"):
        cl, a = _find(t, outcomes[outcome][0], fallback=outcomes[outcome][1])
        if cl and a:
            actions[outcome] = a
            texts.append(cl)
    return Rule(f, s, "rebase-conflict", " | ".join(texts)[:900], actions)


def _queue(f, s, t, p, vars_):
    return _sentence_rule(f, s, t, "queue", {
        "hit": (r"if queue empty|nothing ready\?", "continue"),
        "gone": (r"if branch doesn't exist for a queued mr", None)})


def _context(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "context", {
        "hit": (r"context (?:is )?(?:high |above |HIGH )?\(?\s*>?\s*\d+%|context is above \d+%", "handoff")})
    if isinstance(r, str):
        return r
    thr = _threshold(r.text, [r"(\d+)%"])
    if thr is None:
        return "context: no percentage threshold stated"
    return _with(r, threshold=thr, unit="%", threshold_src="text")


def _export(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "export-spike", {
        "hit": (r"if delta >|a larger drop means", None),
        "first": (r"first export", "continue")})
    if isinstance(r, str):
        return r
    resolved, used = resolve_vars(r.text + " " + t, vars_)
    pct = re.search(r"delta > (0?\.\d+|\d+%)", resolved)
    if pct:
        v = pct.group(1)
        thr = float(v[:-1]) if v.endswith("%") else float(v) * 100
        return _with(r, threshold=thr, unit="%", threshold_src=f"var:{used[0]}" if used else "text")
    tol = re.search(r"previous export minus (\d+)", resolved)
    if tol:
        return _with(r, threshold=float(tol.group(1)), unit="issues", threshold_src=f"var:{used[0]}" if used else "text")
    return "export-spike: no spike/shrink threshold stated"


def _orphan_db(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "orphan-db", {
        "hit": (r"if orphan count <=", None),
        "over": (r"if orphan count >", None),
        "clear": (r"if no orphans found", "continue")})
    if isinstance(r, str):
        return r
    thr, src = _var_threshold(p, r"orphan count <=", vars_)
    if thr is None:
        return "orphan-db: no orphan-count threshold"
    return _with(r, threshold=thr, unit="databases", threshold_src=src)


def _phantom(f, s, t, p, vars_):
    return _sentence_rule(f, s, t, "phantom-db", {
        "hit": (r"if phantoms were found", None),
        "clear": (r"if no phantoms found", "continue")})


def _orphan_bead(f, s, t, p, vars_):
    return _sentence_rule(f, s, t, "orphan-bead", {
        "hit": (r"if both session dead and directory missing|if orphans detected", None),
        "dir-exists": (r"if directory exists but session dead", "continue"),
        "clear": (r"if session alive|if no orphans detected", "continue")})


def _gates(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "timer-gate", {
        "hit": (r"when the timeout expires|resolve timer gates that expired", None),
        "clear": (r"if no expired gates", "continue"),
        "human": (r"leave .human. gates alone", "continue")})
    return r


def _stale_handoff(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "stale-handoff", {"hit": (r"if both: archive", None)})
    if isinstance(r, str):
        return r
    thr = _threshold(t, [r"older than (\d+|an|a) (hour|min)", r"age > (\d+) (hour|min)"])
    return _with(r, threshold=thr, unit="min", threshold_src="text" if thr else "")


def _dog_table(f, s, t, p, vars_):
    return _table_rule(f, s, t, "dog-timeout", r"duration over timeout",
                       extra_thr=_threshold(t, [r"default timeout: (\d+) (min)"]))


def _health_table(f, s, t, p, vars_):
    r = _table_rule(f, s, t, "health-cycles", r"cycles unresponsive")
    cl, act = _find(t, r"docked rig is not broken")
    if isinstance(r, Rule) and cl and act:
        r = _with(r, actions={"docked": act}, text=r.text + "\n" + cl)
    return r


def _reaper(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "reaper", {
        "hit": (r"open_wisps. exceeds", None),
        "clear": (r"if no candidates found", "continue")})
    if isinstance(r, str):
        return r
    thr, src = _var_threshold(p, r"open_wisps. exceeds", vars_)
    if thr is None:
        return "reaper: no open-wisp alert threshold"
    return _with(r, threshold=thr, unit="wisps", threshold_src=src)


def _probe(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "dolt-probe", {
        "hit": (r"if server unreachable", None),
        "slow": (r"warn if >", "warn")})
    if isinstance(r, str):
        return r
    resolved, used = resolve_vars(p, vars_)
    m = re.search(r"warn if > (\d+(?:\.\d+)?)\s*(ms|s)\b", resolved, re.I)
    if not m:
        return _with(r, actions={k: v for k, v in r.actions.items() if k != "slow"})
    thr = float(m.group(1)) * (1000 if m.group(2).lower() == "s" else 1)
    return _with(r, threshold=thr, unit="ms", threshold_src=f"var:{used[0]}" if used else "text")


def _checkpoint(f, s, t, p, vars_):
    r = _sentence_rule(f, s, t, "checkpoint", {"hit": (r"git commit -m .WIP: checkpoint", None)})
    cond = clause(t, r"for each dirty worktree with a live session", 0)
    if isinstance(r, Rule) and cond:
        r = _with(r, text=cond + " | " + r.text)
    return r


def _boot_table(f, s, t, p, vars_):
    return _table_rule(f, s, t, "boot-table", r"deacon state|heartbeat age")


def _table_rule(f, s, t, family, header_rx, extra_thr=None):
    for header, body in parse_tables(t):
        if not re.search(header_rx, " | ".join(header), re.I):
            continue
        rows = table_rows(header, body)
        if len(rows) < 2:
            return f"{family}: decision table with fewer than 2 parseable rows"
        text = "\n".join("| " + " | ".join(header) + " |" for _ in [0]) + "\n" + "\n".join(
            "| " + " | ".join(r.cells) + " |" for r in rows)
        unit = "min" if re.search(r"min|\d+m\b|heartbeat age", text, re.I) else (
            "x timeout" if "timeout" in text.lower() else "cycles")
        return Rule(f, s, family, text, {}, threshold=extra_thr, unit=unit,
                    threshold_src="text" if extra_thr else "", rows=tuple(rows))
    return f"{family}: no decision table"


# ---- step-specific families (one formula step each, read from its own headings) ---------------

def _section(text: str, pattern: str, limit: int = 1200) -> str | None:
    """Text from the line matching ``pattern`` to the next bold/``If`` heading (its ``$ cmd`` lines kept),
    or None. Reads "**Server down (CRITICAL):**"-style blocks whose bodies are commands."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if re.search(pattern, line.strip(), re.I):
            out = [line.strip()]
            for nxt in lines[i + 1:]:
                s = nxt.strip()
                if s.startswith("**") or re.match(r"(?:If|When)\b", s) or s.startswith("#"):
                    break
                if s:
                    out.append(s)
            return " ".join(out)[:limit]
    return None


def _labelled(f, s, t, family, outcomes: dict[str, tuple[str, str | None]], required: str = "hit",
              **kw) -> Rule | str:
    """Rule from heading blocks (:func:`_section`): ``outcomes = {outcome: (heading pattern, fallback
    label)}``; the label is the block's action (lexicon) or the fallback when the block names none."""
    actions, texts = {}, []
    for outcome, (pat, fallback) in outcomes.items():
        block = _section(t, pat)
        if block is None:
            continue
        act = action_of(consequent(block, pat)) or fallback
        if act:
            actions[outcome] = act
            texts.append(block)
    if required not in actions:
        return f"{family}: no '{outcomes[required][0]}' block with an action"
    return Rule(f, s, family, " | ".join(texts)[:900], actions, **kw)


def _dolt_health(f, s, t, p, vars_):
    r = _labelled(f, s, t, "dolt-health", {
        "hit": (r"^\*\*server down", None), "bloat": (r"^\*\*commit bloat", None),
        "stale-backup": (r"^\*\*stale backups?", None), "zombie-proc": (r"^\*\*zombie processes", None),
        "orphans": (r"^\*\*orphan dbs?", None), "clear": (r"^\*\*if everything is healthy", "continue")})
    if isinstance(r, str):
        return r
    commits = _threshold(t, [r"commits > (\d+)"])
    latency = _threshold(t, [r"latency_ms > (\d+)"])
    return _with(r, threshold=commits, unit="commits", threshold_src="text" if commits else "",
                 extra={"latency_ms": latency} if latency else {})


def _convoy(f, s, t, p, vars_):
    if not re.search(r"auto-closes convoys where all tracked|when all tracked issues close", t, re.I):
        return "convoy: no 'auto-closes convoys where all tracked work is complete' sentence"
    cl = clause(t, r"auto-closes convoys where all tracked|when all tracked issues close", 0)
    return Rule(f, s, "convoy", cl, {"hit": "close-convoy", "clear": "continue"})


def _compactor(f, s, t, p, vars_):
    cl = clause(t, r"commit count against the threshold|exceeds threshold", 0)
    if cl is None:
        return "compactor: no commit-count threshold sentence"
    thr, src = _var_threshold(p, r"threshold\s*\(?(?:configurable,\s*)?default", vars_)
    if thr is None and var_default(vars_, "commit_threshold"):
        thr, src = float(var_default(vars_, "commit_threshold")), "var:commit_threshold"
    if thr is None:
        return "compactor: no commit threshold (text or [vars] commit_threshold)"
    return Rule(f, s, "compactor", cl, {"hit": "compact", "clear": "continue"}, threshold=thr, unit="commits",
                threshold_src=src)


_CLEANUP_WORDS = {"dirty": (r"uncommitted changes\W+commit and push, then nuke|unpushed commits\W+push to origin, then nuke",
                            "push-then-nuke"),
                  "lost": (r"all valuable work lost\W+escalate", "escalate"),
                  "clear": (r"if no wisps, skip", "continue"),
                  "hit": (r"if resolvable locally\W+fix and nuke", "nuke")}


def _cleanup_wisp(f, s, t, p, vars_):
    actions, texts = {}, []
    for outcome, (pat, label) in _CLEANUP_WORDS.items():
        m = re.search(pat, t, re.I)
        if m:
            actions[outcome] = label
            texts.append(m.group(0))
    if "dirty" not in actions or "hit" not in actions:
        return "cleanup-wisp: no 'commit and push, then nuke' / 'fix and nuke' resolution options"
    return Rule(f, s, "cleanup-wisp", " | ".join(texts), actions)


def _push_verify(f, s, t, p, vars_):
    r = _labelled(f, s, t, "push-verify", {"hit": (r"if shas differ", None), "clear": (r"if shas match", "continue")})
    if isinstance(r, Rule) and r.actions["hit"] != "retry":
        return f"push-verify: the 'If SHAs differ' block gives {r.actions['hit']!r}, not a retry"
    return r


def _loop(f, s, t, p, vars_):
    if not re.search(r"more branches to process", t, re.I):
        return "loop: no 'more branches to process' question"
    yes = clause(t, r"if yes\W+return to process-branch", 0)
    no = clause(t, r"if no\W+continue", 0)
    if yes is None:
        return "loop: no 'If yes: Return to process-branch' sentence"
    return Rule(f, s, "loop", " | ".join(x for x in (yes, no) if x), {"hit": "next-branch", "clear": "continue"})


def _session_weight(f, s, t, p, vars_):
    cl = clause(t, r"if multiple signals suggest", 0)
    if cl is None or not re.search(r"hand off", cl, re.I):
        return "session-weight: no 'If multiple signals suggest ... hand off' sentence"
    rss = re.search(r"at (\d+(?:\.\d+)?) ?GB is worse than cycling and restarting at (\d+) ?MB", t, re.I)
    heavy = float(rss.group(1)) * 1024 if rss else 1536.0
    return Rule(f, s, "session-weight", cl, {"hit": "handoff", "clear": "continue"}, threshold=heavy, unit="MB",
                threshold_src="text" if rss else "")


# (family, trigger on step id + title + prose, extractor); the first family whose trigger
# matches and whose extractor returns a Rule wins; several may add rules to one step.
FAMILIES = [
    ("boot-table", r"decision matrix|\| heartbeat age", _boot_table),
    ("dog-timeout", r"duration over timeout", _dog_table),
    ("health-cycles", r"cycles unresponsive", _health_table),
    ("zombie", r"zombie-scan|zombie polecats", _zombie),
    ("idle", r"nudge (?:idle|running polecats)|idle and stuck|nudge-stuck|no recent progress", _idle),
    ("dead-session", r"session died with work|dead sessions with active state|recover dead", _dead),
    ("refinery-stall", r"oldest mr has waited", _refinery_stall),
    ("deacon-down", r"gt deacon status --json", _deacon_down),
    ("health", r"rig with no witness session|docked rig", _health),
    ("tests", r"red gate|if branch caused it", _tests),
    ("rebase-conflict", r"conflict means|rebase failed with conflicts", _conflict),
    ("queue", r"if queue empty|nothing ready\?", _queue),
    ("context", r"context (?:is )?(?:high|above)|context is high", _context),
    ("export-spike", r"spike detection|larger drop means", _export),
    ("orphan-db", r"if orphan count", _orphan_db),
    ("phantom-db", r"if phantoms were found", _phantom),
    ("orphan-bead", r"directory missing|if orphans detected", _orphan_bead),
    ("timer-gate", r"timer gates?", _gates),
    ("stale-handoff", r"stale handoff", _stale_handoff),
    ("reaper", r"open_wisps. exceeds", _reaper),
    ("dolt-probe", r"if server unreachable", _probe),
    ("checkpoint", r"dirty worktree with a live session", _checkpoint),
    ("dolt-health", r"gt health --json", _dolt_health),
    ("convoy", r"convoy completion|auto-closes convoys", _convoy),
    ("compactor", r"commit count against the threshold", _compactor),
    ("cleanup-wisp", r"cleanup wisps?", _cleanup_wisp),
    ("push-verify", r"if shas differ", _push_verify),
    ("loop", r"more branches to process", _loop),
    ("session-weight", r"fresh sessions are cheap", _session_weight),
]

#: Families that also read the formula description (policies stated once for every step).
_USES_DESCRIPTION = {"dead-session", "idle"}

_CONDITIONAL = re.compile(r"\bif\b|→|->|\bwhen\b|\?\s|\bgets\b|\|[^|\n]+\|", re.I)


def step_rules(formula: str, step: dict, vars_: dict, description: str = "") -> tuple[list[Rule], str]:
    """Rules of one step (``{"id", "title", "description"}``) plus a skip reason when there are none.

    ``description`` (the formula's own description) is searched for the step families that
    formulas state once for all steps (the witness's restart-first policy) when the step
    itself is the one that handles them.
    """
    sid = step.get("id") or ""
    full = f"{sid}\n{step.get('title') or ''}\n{step.get('description') or ''}"
    text = prose(full)
    src_text = unwrap(with_commands(full))
    desc_text = unwrap(with_commands(description))
    rules, reasons = [], []
    for family, trigger, fn in FAMILIES:
        src = src_text
        if not re.search(trigger, text, re.I):
            if family in _USES_DESCRIPTION and re.search(r"zombie detection", text, re.I) \
                    and re.search(trigger, prose(description), re.I):
                src = src_text + "\n" + desc_text
            else:
                continue
        elif family in _USES_DESCRIPTION and re.search(r"zombie detection", text, re.I):
            src = src_text + "\n" + desc_text
        got = fn(formula, sid, src, full, vars_)
        if isinstance(got, Rule):
            rules.append(got)
        else:
            reasons.append(got)
    if rules:
        return rules, ""
    if reasons:
        return [], "; ".join(reasons)
    if not _CONDITIONAL.search(text):
        return [], "no condition -> action sentence in the step text"
    first = next((ln.strip() for ln in text.split("\n") if _CONDITIONAL.search(ln)), "")
    return [], f"conditional prose matches no rule family: {first[:120]!r}"


def extract_rules(payload: dict) -> tuple[list[Rule], list[tuple[str, str]]]:
    """All rules of a formula payload (collect.py shape: ``name``, ``steps``, ``vars``, ``description``).

    Returns:
        ``(rules, skips)`` with ``skips = [(step_id, reason)]`` for steps that gave no rule.

    Raises:
        ValueError: the payload has no ``name`` or its ``steps`` is not a list.
    """
    name = payload.get("name")
    steps = payload.get("steps") or []
    if not name:
        raise ValueError("extract_rules: formula payload has no name")
    if not isinstance(steps, list):
        raise ValueError(f"extract_rules: formula {name}: steps is {type(steps).__name__}, not a list")
    rules, skips = [], []
    for st in steps:
        if not isinstance(st, dict) or not st.get("id"):
            skips.append(("?", "step without id"))
            continue
        got, why = step_rules(name, st, payload.get("vars") or {}, payload.get("description") or "")
        dup = [g for g in got if any(r.family == g.family and r.rows == g.rows
                                     and set(g.actions.items()) <= set(r.actions.items()) for r in rules)]
        got = [g for g in got if g not in dup]
        if dup and not got:
            why = f"{dup[0].family}: same rule as an earlier step"
        rules += got
        if not got:
            skips.append((st["id"], why))
    return rules, skips
