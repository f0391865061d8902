"""Evidence renderers: a ``Rule`` + a seeded RNG -> decision ``Case`` s with realistic shell output.

Each case plants (or leaves out) the rule's condition in the output of the commands a patrol
step runs: ``gt polecat list``, ``gt peek``, ``tmux has-session -t <s>; echo $?``,
``bd show <id> --json``, ``bd list --json``, ``git status --porcelain``, ``git log --oneline``,
``gt mq list``, ``git rebase`` output, ``go test``/``pytest`` output, ``gt deacon status --json``,
``gt dog status --json``, ``gt reaper scan --json`` ... Field names and enums follow
``shared/docs/gastown-formats.md`` (§2.1 bead fields/statuses, §2.3 id conventions, §3.1
session names ``<prefix>-<name>``, ``hq-deacon``; §4 mail subjects); command output layouts
that the formats doc does not fix are our own plausible renderings.

A case names an *outcome* of the rule (``hit``, ``clear``, ``over`` ... or ``row:<i>`` for a
decision-table row, or ``general:escalate`` / ``general:continue``); the generator turns it into
the rule's action label. Families: ``clear-hit``, ``nothing-wrong``, ``below-threshold``,
``above-threshold``, ``dirty-worktree``, ``conflicting-signals`` and per-rule variants.

Usage::

    from node0_ops.corpus.scenarios.evidence import cases_for
    for case in cases_for(rule, random.Random(7), n=3): ...
"""

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

POLECATS = ("quartz", "bramble", "nettle", "ivory", "cobalt", "juniper", "sorrel", "tansy", "flint", "ember",
            "wren", "pike", "thistle", "garnet", "alder", "rook", "marlin", "saffron", "onyx", "hazel")
RIGS = (("gastown", "gt"), ("beads", "bd"), ("ledger", "lg"), ("atlas", "at"), ("harbor", "hb"), ("orchard", "oc"))
DOGS = ("rex", "biscuit", "maple", "scout", "pepper", "otis")
TESTS_GO = ("TestSlingFormulaVars", "TestMailDrainMaxAge", "TestConvoyAutoClose", "TestHookAttachDetach",
            "TestPatrolScanZombie", "TestRoutesPrefixLookup")
TESTS_PY = ("test_export_roundtrip", "test_ready_excludes_blocked", "test_dep_direction", "test_claim_atomic",
            "test_wisp_gc_age", "test_label_propagate")
DBS = ("hq", "gt", "bd", "lg", "at")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Ctx:
    """Names for one case, drawn from the RNG: rig, prefix, polecat, bead id, clock."""

    rng: random.Random
    rig: str
    prefix: str
    cat: str
    bead: str
    now: datetime
    others: list = field(default_factory=list)

    def hid(self, n: int | None = None) -> str:
        return "".join(self.rng.choice(_B36) for _ in range(n or self.rng.choice((3, 4, 4, 5))))

    def new_bead(self) -> str:
        return f"{self.prefix}-{self.hid()}"

    def ts(self, minutes_ago: float) -> str:
        return (self.now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def sha(self) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(7))


def make_ctx(rng: random.Random) -> Ctx:
    rig, prefix = rng.choice(RIGS)
    cats = rng.sample(POLECATS, 5)
    now = datetime(2026, rng.randint(1, 6), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), tzinfo=timezone.utc)
    c = Ctx(rng, rig, prefix, cats[0], "", now, cats[1:])
    c.bead = c.new_bead()
    return c


@dataclass
class Case:
    """One decision situation.

    Attributes:
        family: scenario family (``clear-hit``, ``nothing-wrong``, ``below-threshold`` ...).
        outcome: rule outcome key, ``row:<i>`` or ``general:<action>``.
        evidence: ``[(command, output)]`` in the order they were run.
        reason: one sentence citing the evidence (< 200 chars).
        target / bead / command: optional answer fields (agent address, bead id, the command to run).
        cites: strings the reason names (polecat, bead id, test name ...).
    """

    family: str
    outcome: str
    evidence: list
    reason: str
    target: str | None = None
    bead: str | None = None
    command: str | None = None
    cites: list = field(default_factory=list)
    rig: str | None = None
    now: str = ""


def _age(m: float) -> str:
    if m < 1:
        return f"{int(m * 60)}s"
    if m < 90:
        return f"{int(m)}m"
    return f"{int(m // 60)}h{int(m % 60)}m"


def polecat_list(c: Ctx, rows: list[tuple[str, str, str, float]]) -> tuple[str, str]:
    """``gt polecat list <rig>``: rows ``(name, state, hook bead or "-", minutes since activity)``."""
    lines = [f"{'NAME':<10} {'STATE':<13} {'HOOK':<10} {'SESSION':<16} LAST-ACTIVITY"]
    for name, state, hook, mins in rows:
        lines.append(f"{name:<10} {state:<13} {hook:<10} {c.prefix + '-' + name:<16} {_age(mins)} ago")
    return f"gt polecat list {c.rig}", "\n".join(lines)


def peek(c: Ctx, name: str, kind: str) -> tuple[str, str]:
    """``gt peek <rig>/<name> 20`` pane tail: ``active`` (tool calls), ``idle`` (prompt), ``error`` (repeat)."""
    if kind == "active":
        body = ["⏺ Bash(go test ./internal/mail/...)", "  ⎿  ok  \tgithub.com/steveyegge/gastown/internal/mail\t1.84s",
                f"⏺ Update(internal/cmd/{c.rng.choice(['sling', 'mail', 'hook', 'convoy'])}.go)", "  ⎿  Updated with 12 additions"]
    elif kind == "error":
        err = c.rng.choice(["Error: dial tcp 127.0.0.1:3307: connect: connection refused",
                            "panic: runtime error: invalid memory address or nil pointer dereference"])
        body = [err, "⏺ Retrying the same command", err, "⏺ Retrying the same command", err]
    else:
        body = ["⏺ Committed the change; waiting for the next instruction.", "", "> ", "  ? for shortcuts"]
    return f"gt peek {c.rig}/{name} 20", "\n".join(body)


def has_session(session: str, alive: bool) -> tuple[str, str]:
    return f"tmux has-session -t {session} 2>/dev/null; echo $?", "0" if alive else "1"


def bd_show(c: Ctx, bead: str, status: str, assignee: str, minutes_ago: float, title: str | None = None) -> tuple[str, str]:
    obj = [{"id": bead, "title": title or c.rng.choice(["Fix mail drain race", "Add convoy stage flag",
                                                        "Route hq- prefixes", "Retry dolt connect"]),
            "status": status, "priority": c.rng.randint(1, 3), "issue_type": "task", "assignee": assignee,
            "updated_at": c.ts(minutes_ago), "created_at": c.ts(minutes_ago + c.rng.randint(30, 900))}]
    return f"bd show {bead} --json", json.dumps(obj, indent=2)


def git_status(c: Ctx, dirty: bool) -> tuple[str, str]:
    files = c.rng.sample(["internal/mail/drain.go", "internal/cmd/sling.go", "docs/reference.md", "cmd/bd/ready.go",
                          "internal/hook/attach_test.go"], 2)
    out = "\n".join([f" M {files[0]}", f"?? {files[1]}"]) if dirty else ""
    return "git status --porcelain", out


def git_log(c: Ctx, n: int = 3) -> tuple[str, str]:
    msgs = ["fix: drain keeps HELP mail", "feat: convoy stage --dry-run", "test: cover hooked status",
            "refactor: split patrol scan", "docs: sling flags"]
    return "git log --oneline -3", "\n".join(f"{c.sha()} {m} ({c.bead})" for m in c.rng.sample(msgs, n))


def ages_around(thr: float, rng: random.Random) -> tuple[float, float]:
    """A value clearly below and one clearly above ``thr`` (the ambiguous middle: 4 vs 45 around 15)."""
    below = max(0.5, round(thr * rng.uniform(0.15, 0.7), 1))
    above = round(thr * rng.uniform(1.4, 3.5), 1)
    return below, above


# ---- per-family case builders ------------------------------------------------------------

def _zombie(rule, c):
    thr = rule.threshold or 10
    out = []
    idle = c.rng.uniform(thr * 1.5, thr * 12)
    scan = (f"gt deacon zombie-scan --dry-run",
            f"[dry-run] scanning rig {c.rig}: {len(c.others) + 1} polecats\n"
            f"ZOMBIE  {c.rig}/polecats/{c.cat}  state=idle  session={c.prefix}-{c.cat} (dead)  hook=none  last_activity={_age(idle)} ago\n"
            f"1 zombie candidate (dry run, nothing killed)")
    out.append(Case("clear-hit", "hit", [scan, has_session(f"{c.prefix}-{c.cat}", False)],
                    f"tmux has-session {c.prefix}-{c.cat} exits 1 (dead), {c.cat} has no hook and no activity for {_age(idle)}: a zombie.",
                    f"{c.rig}/polecats/{c.cat}", None,
                    f'gt warrant file {c.rig}/polecats/{c.cat} --reason "Zombie detected: no session, no hook, idle {_age(idle)}"'
                    if rule.actions["hit"] == "file-warrant" else f'gt nudge {c.rig}/witness "zombie: {c.cat}"',
                    [c.cat]))
    clean = ("gt deacon zombie-scan --dry-run", f"[dry-run] scanning rig {c.rig}: {len(c.others)} polecats\nno zombies found")
    out.append(Case("nothing-wrong", "clear" if "clear" in rule.actions else "general:continue",
                    [clean, polecat_list(c, [(n, "working", c.new_bead(), c.rng.uniform(0, 4)) for n in c.others[:3]])],
                    f"zombie-scan found no zombies in {c.rig} and {c.others[0]} and the others are working.", cites=[c.others[0]]))
    if rule.threshold:
        below, _ = ages_around(thr, c.rng)
        scan_b = ("gt deacon zombie-scan --dry-run", f"[dry-run] scanning rig {c.rig}\nno zombies found")
        out.append(Case("below-threshold", "general:continue",
                        [scan_b, polecat_list(c, [(c.cat, "idle", "-", below)]), has_session(f"{c.prefix}-{c.cat}", False)],
                        f"{c.cat}'s session is gone but it was active {_age(below)} ago ({_age(below)} < {int(thr)}m zombie age): too recent, check again next cycle.",
                        f"{c.rig}/polecats/{c.cat}", cites=[c.cat]))
    out.append(Case("conflicting-signals", "general:escalate",
                    [scan, has_session(f"{c.prefix}-{c.cat}", True), peek(c, c.cat, "active")],
                    f"tmux has-session {c.prefix}-{c.cat} exits 0 (alive) and its pane shows fresh output, yet zombie-scan calls {c.cat} dead; the signals disagree, so escalate.",
                    f"{c.rig}/polecats/{c.cat}", cites=[c.cat]))
    out.append(Case("dirty-worktree", "general:continue",
                    [polecat_list(c, [(c.cat, "working", c.bead, idle)]), has_session(f"{c.prefix}-{c.cat}", False),
                     bd_show(c, c.bead, "hooked", f"{c.rig}/polecats/{c.cat}", idle)],
                    f"{c.cat} still has {c.bead} hooked (a zombie has no hooked work), so it is not a zombie; leave it to the witness.",
                    f"{c.rig}/polecats/{c.cat}", c.bead, cites=[c.cat, c.bead]))
    return out


def _idle(rule, c):
    thr = rule.threshold
    out = []
    hung = rule.extra.get("hung")
    lo_idle = thr if thr else 10
    mid = c.rng.uniform(lo_idle * 1.3, (hung or lo_idle * 4) * 0.9) if hung else c.rng.uniform(lo_idle * 1.5, lo_idle * 3.5)
    rows = [(c.cat, "working", c.bead, mid)] + [(n, "working", c.new_bead(), c.rng.uniform(0, 3)) for n in c.others[:2]]
    out.append(Case("above-threshold" if thr else "clear-hit", "hit",
                    [polecat_list(c, rows), peek(c, c.cat, "idle")],
                    f"{c.cat} has {c.bead} hooked and an idle prompt for {_age(mid)}"
                    + (f" ({_age(mid)} > {int(thr)}m idle limit): nudge it." if thr else "; nudge it."),
                    f"{c.rig}/polecats/{c.cat}", c.bead,
                    f'gt nudge {c.rig}/polecats/{c.cat} "Your hook has {c.bead}. Continue from your current step."', [c.cat]))
    below = c.rng.uniform(1, (thr or 10) * 0.6)
    out.append(Case("below-threshold", "general:continue",
                    [polecat_list(c, [(c.cat, "working", c.bead, below)]), peek(c, c.cat, "idle")],
                    f"{c.cat} has been quiet {_age(below)}" + (f" ({_age(below)} < {int(thr)}m idle limit)" if thr else "")
                    + "; agents pause on legitimate work, so leave it.", f"{c.rig}/polecats/{c.cat}", c.bead, cites=[c.cat]))
    out.append(Case("nothing-wrong", "general:continue",
                    [polecat_list(c, [(n, "working", c.new_bead(), c.rng.uniform(0, 3)) for n in [c.cat] + c.others[:2]]),
                     peek(c, c.cat, "active")],
                    f"every polecat in {c.rig} shows recent activity and {c.cat} is running tests; nothing to do.", cites=[c.cat]))
    if "over" in rule.actions:
        if hung:
            big = c.rng.uniform(hung * 1.2, hung * 4)
            ev = [polecat_list(c, [(c.cat, "working", c.bead, big)]), peek(c, c.cat, "idle"),
                  has_session(f"{c.prefix}-{c.cat}", True)]
            why = f"{c.cat} has produced no output for {_age(big)}, past the {int(hung)}+ min hung limit; restart keeps its worktree."
        else:
            big = c.rng.uniform(lo_idle * 1.5, lo_idle * 4)
            ev = [polecat_list(c, [(c.cat, "working", c.bead, big)]), peek(c, c.cat, "idle"),
                  ("gt mail inbox --from witness --to " + f"{c.rig}/polecats/{c.cat}",
                   f"#1  {c.ts(big * 0.5)}  witness -> {c.rig}/polecats/{c.cat}  nudge: Your hook has {c.bead}.")]
            why = f"{c.cat} was already nudged about {c.bead} and is still idle {_age(big)} later: second strike, restart the session."
        out.append(Case("above-threshold" if hung else "second-strike", "over", ev, why, f"{c.rig}/polecats/{c.cat}", c.bead,
                        f"gt session restart {c.prefix}-{c.cat}", [c.cat]))
    if "third" in rule.actions:
        out.append(Case("third-strike", "third",
                        [polecat_list(c, [(c.cat, "working", c.bead, lo_idle * 5)]),
                         ("gt mail inbox --from witness --to " + f"{c.rig}/polecats/{c.cat}",
                          f"#1  nudge: Your hook has {c.bead}.\n#2  session restarted ({c.prefix}-{c.cat})")],
                        f"{c.cat} stayed idle on {c.bead} after a nudge and a restart: third strike, escalate.",
                        f"{c.rig}/polecats/{c.cat}", c.bead, cites=[c.cat, c.bead]))
    return out


def _dead(rule, c):
    out = []
    sess = f"{c.prefix}-{c.cat}"
    hit = rule.actions["hit"]
    if hit == "recover":
        ev = [has_session(sess, False), bd_show(c, c.bead, "hooked", f"{c.rig}/polecats/{c.cat}", 40),
              (f"gt polecat check-recovery {c.cat}", f"{c.rig}/polecats/{c.cat}: worktree clean, branch pushed, safe to recover")]
        out.append(Case("clear-hit", "hit", ev, f"{sess} is dead with {c.bead} hooked and check-recovery says {c.cat} is safe to recover.",
                        f"{c.rig}/polecats/{c.cat}", c.bead, f"gt polecat nuke {c.cat} --keep-branch", [c.cat, c.bead]))
        ev = [has_session(sess, False), git_status(c, True),
              (f"gt polecat check-recovery {c.cat}", f"{c.rig}/polecats/{c.cat}: 2 uncommitted files, 1 unpushed commit: NOT safe")]
        out.append(Case("dirty-worktree", "general:escalate", ev,
                        f"{c.cat}'s worktree has uncommitted work and check-recovery says not safe, so do not nuke; escalate to preserve it.",
                        f"{c.rig}/polecats/{c.cat}", c.bead, cites=[c.cat]))
    else:
        ev = [has_session(sess, False), bd_show(c, c.bead, "hooked", f"{c.rig}/polecats/{c.cat}", 25), git_status(c, False)]
        out.append(Case("clear-hit", "hit", ev, f"{sess} is dead while {c.bead} is still hooked to {c.cat}; restart the session, never nuke.",
                        f"{c.rig}/polecats/{c.cat}", c.bead, f"gt session restart {c.rig}/{c.cat}", [c.cat, c.bead]))
        ev = [has_session(sess, False), bd_show(c, c.bead, "in_progress", f"{c.rig}/polecats/{c.cat}", 30), git_status(c, True)]
        out.append(Case("dirty-worktree", "hit", ev,
                        f"{sess} died with uncommitted changes for {c.bead}; a restart keeps {c.cat}'s worktree, a nuke would lose it.",
                        f"{c.rig}/polecats/{c.cat}", c.bead, f"gt session restart {c.rig}/{c.cat}", [c.cat, c.bead]))
    if "done" in rule.actions:
        ev = [polecat_list(c, [(c.cat, "idle", "-", 50)]), bd_show(c, c.bead, "closed", f"{c.rig}/polecats/{c.cat}", 55)]
        out.append(Case("nothing-wrong", "done", ev, f"{c.cat} is idle because {c.bead} is closed; its sandbox stays for reuse, leave it alone.",
                        f"{c.rig}/polecats/{c.cat}", c.bead, cites=[c.cat, c.bead]))
    if "pending-mr" in rule.actions:
        mr = c.new_bead()
        ev = [polecat_list(c, [(c.cat, "mr_submitted", "-", 20)]),
              (f"gt mq list {c.rig}", f"ID        BRANCH                         WORKER   STATUS   AGE\n"
                                     f"{mr:<9} polecat/{c.cat}/{c.bead}@{c.hid(6)}  {c.cat:<8} queued   {_age(20)}")]
        out.append(Case("destructive-guard", "pending-mr", ev,
                        f"{c.cat} has MR {mr} queued in the refinery; nuking would delete its branch, so leave it alone.",
                        f"{c.rig}/polecats/{c.cat}", mr, cites=[c.cat, mr]))
    ev = [has_session(sess, True), peek(c, c.cat, "active")]
    out.append(Case("nothing-wrong", "general:continue", ev, f"{sess} is alive and {c.cat} is making progress; nothing to recover.",
                    cites=[c.cat]))
    return out


def _refinery_stall(rule, c):
    thr = rule.threshold or 60
    below, above = ages_around(thr, c.rng)
    mr = c.new_bead()

    def mq(age):
        return (f"gt mq list --rig {c.rig}", f"ID        BRANCH                        WORKER   STATUS  AGE\n"
                                            f"{mr:<9} polecat/{c.cat}/{c.bead}@{c.hid(6)} {c.cat:<8} ready   {_age(age)}")
    ref = (f"gt refinery status {c.rig}", f"Refinery {c.rig}: running (session {c.prefix}-refinery), last merge {_age(above)} ago")
    out = [Case("above-threshold", "hit", [mq(above), ref], f"MR {mr} has waited {_age(above)} ({_age(above)} > {_age(thr)} limit): nudge the refinery.",
                f"{c.rig}/refinery", mr, f'gt nudge {c.rig}/refinery "MR {mr} waiting {_age(above)}"', [mr]),
           Case("below-threshold", "general:continue", [mq(below), ref],
                f"the oldest MR {mr} has waited {_age(below)} ({_age(below)} < {_age(thr)} limit): the queue is moving.", cites=[mr]),
           Case("nothing-wrong", "general:continue", [(f"gt mq list --rig {c.rig}", "No merge requests in queue."), ref],
                f"the {c.rig} merge queue is empty; nothing waits on the refinery.", cites=[c.rig])]
    if "gone" in rule.actions:
        out.append(Case("clear-hit", "gone", [mq(below), (f"gt refinery status {c.rig}", f"Refinery {c.rig}: not running (no session {c.prefix}-refinery)"),
                                            has_session(f"{c.prefix}-refinery", False)],
                        f"the {c.rig} refinery session {c.prefix}-refinery is gone with MR {mr} queued; escalate to the deacon.",
                        "deacon/", mr, cites=[f"{c.prefix}-refinery", mr]))
    return out


def _deacon_down(rule, c):
    thr = rule.threshold or 5
    below, above = ages_around(thr, c.rng)

    def st(running, age):
        hb = None if age is None else {"age_seconds": int(age * 60), "fresh": age < thr, "stale": age >= thr,
                                       "very_stale": age >= thr * 6}
        return ("gt deacon status --json", json.dumps({"running": running, "session": "hq-deacon", "heartbeat": hb}, indent=2))
    out = [Case("above-threshold", "hit", [st(False, above)],
                f"hq-deacon is not running, heartbeat {_age(above)} old ({_age(above)} > {int(thr)}m): stale, the deacon is down; alert the mayor.",
                "mayor/", command='gt mail send mayor/ -s "ALERT: Deacon session hq-deacon is down"', cites=["hq-deacon"])]
    if "fresh" in rule.actions:
        out.append(Case("below-threshold", "fresh", [st(False, below)],
                        f"hq-deacon is down but its heartbeat is {_age(below)} old ({_age(below)} < {int(thr)}m): fresh, the daemon is restarting it; do not alert.",
                        cites=["hq-deacon"]))
    if "alive" in rule.actions:
        out.append(Case("nothing-wrong", "alive", [st(True, c.rng.uniform(0.2, 2))], "gt deacon status says hq-deacon is running; no action.",
                        cites=["hq-deacon"]))
    if "no-heartbeat" in rule.actions:
        out.append(Case("clear-hit", "no-heartbeat", [st(False, None)],
                        "hq-deacon is not running and has no heartbeat file at all; escalate to the mayor.", "mayor/", cites=["hq-deacon"]))
    if "mayor-dead" in rule.actions:
        out.append(Case("clear-hit", "mayor-dead", [("gt mayor status --running", "false"), st(True, 1)],
                        "gt mayor status --running prints false: the mayor session is dead, escalate with severity HIGH.",
                        command='gt escalate -s HIGH "Mayor dead - session not found (TMUX or ACP)"', cites=["mayor"]))
    return out


def _health(rule, c):
    thr = rule.threshold or 45
    below, above = ages_around(thr, c.rng)
    rs = lambda w, r, age: (f"gt rig status {c.rig}", f"Rig {c.rig}: OPERATIONAL\n  witness   {w}\n  refinery  {r}"
                                                       + (f" (claimed MR {c.bead} for {_age(age)})" if age else ""))
    out = [Case("clear-hit", "hit", [rs("no session", "running", None), has_session(f"{c.prefix}-witness", False)],
                f"rig {c.rig} has no witness session ({c.prefix}-witness is missing); start it.", f"{c.rig}/witness",
                command=f"gt witness start {c.rig}", cites=[f"{c.prefix}-witness", c.rig]),
           Case("nothing-wrong", "general:continue", [rs("running", "running", None)], f"witness and refinery of {c.rig} are both running.",
                cites=[c.rig])]
    if "stuck" in rule.actions:
        out.append(Case("above-threshold", "stuck", [rs("running", "running", above)],
                        f"the {c.rig} refinery has held MR {c.bead} for {_age(above)} ({_age(above)} > {int(thr)}m limit): stuck, nudge it first.",
                        f"{c.rig}/refinery", c.bead, cites=[c.bead]))
        out.append(Case("below-threshold", "general:continue", [rs("running", "running", below)],
                        f"the {c.rig} refinery has held {c.bead} for {_age(below)} ({_age(below)} < {int(thr)}m limit): not stuck yet.", cites=[c.bead]))
    if "stuck-again" in rule.actions:
        out.append(Case("second-strike", "stuck-again",
                        [rs("running", "running", above * 1.5), ("gt feed --since 2h --plain | grep nudge",
                                                                 f"{c.ts(above * 0.5)} nudge deacon -> {c.rig}/refinery HEALTH_CHECK")],
                        f"the {c.rig} refinery was already nudged and still holds {c.bead} after {_age(above * 1.5)}; escalate.",
                        cites=[c.bead]))
    return out


def _table_cases(rule, c):
    """Decision-table families: one case per row with a value inside the row's range."""
    out = []
    for i, row in enumerate(rule.rows):
        lo, hi = row.lo, row.hi
        if lo is None and hi is None:
            val = None
        elif lo is None:
            val = round(c.rng.uniform(max(0.3, hi * 0.1), hi * 0.85), 1)
        elif hi is None:
            val = round(c.rng.uniform(lo * 1.1 + 0.5, lo * 3 + 1), 1)
        else:
            val = round(c.rng.uniform(lo + (hi - lo) * 0.15, hi - (hi - lo) * 0.15), 1)
        fam = "clear-hit" if row.action != "continue" else ("below-threshold" if val is not None else "nothing-wrong")
        built = _RENDER_ROW[rule.family](rule, row, val, c)
        if built:
            ev, reason, target, cmd, cites = built
            out.append(Case(fam, f"row:{i}", ev, reason, target, None, cmd, cites))
    return out


def _boot_row(rule, row, val, c):
    f = row.flags
    dead = "dead" in f or "no session" in f
    mail = "has mail" in f
    pane = "error" if ("error" in f or "stuck" in f) else ("active" if ("active" in f or "changing" in f) else "idle")
    ev = [has_session("hq-deacon", not dead)]
    if dead:
        return ev, "hq-deacon has no tmux session: the deacon is dead, start it.", "deacon", "gt deacon start", ["hq-deacon"]
    age = val if val is not None else c.rng.uniform(0.5, 3)
    p = peek(c, "deacon", pane)
    ev += [("gt deacon heartbeat --show", f"last heartbeat {c.ts(age)} ({_age(age)} ago)"), ("gt peek deacon --lines 20", p[1])]
    if any(w in " ".join(row.cells).lower() for w in ("mail",)):
        n = c.rng.randint(1, 4) if mail else 0
        ev.append(("gt mail inbox deacon | head -10", "\n".join(f"{c.hid(5)}  witness  RECOVERED_BEAD {c.new_bead()}" for _ in range(n))
                   or "(no messages)"))
    desc = {"error": "repeating the same error", "active": "showing live tool calls", "idle": "sitting at an idle prompt"}[pane]
    mail_s = (" with unread mail" if mail else " and no mail") if any("mail" in x.lower() for x in row.cells) else ""
    return ev, f"hq-deacon is alive, heartbeat {_age(age)} old, pane {desc}{mail_s}.", "deacon", None, ["hq-deacon"]


def _dog_row(rule, row, val, c):
    timeout = rule.threshold or 10
    dog = c.rng.choice(DOGS)
    mult = val if val is not None else 1.0
    if row.lo is None and mult <= 1.0:      # "< 2x timeout" means over the timeout but under twice it
        mult = round(c.rng.uniform(1.1, 1.9), 1)
    dur = timeout * mult
    st = {"name": dog, "state": "working", "current_work": f"plugin:{c.rng.choice(['rebuild-gt', 'dolt-backup', 'jsonl'])}",
          "work_started_at": c.ts(dur)}
    ev = [("gt dog list --json", json.dumps([{"name": dog, "state": "working"}] + [{"name": d, "state": "idle"} for d in DOGS[:2] if d != dog])),
          (f"gt dog status {dog} --json", json.dumps(st, indent=2)), ("date -u +%FT%TZ", c.now.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    return ev, f"dog {dog} started {st['current_work']} at {st['work_started_at'][11:16]}, now {c.now.strftime('%H:%M')}: {_age(dur)}, {mult:.1f}x its {int(timeout)}m timeout (band {row.cells[0].strip()}).", f"deacon/dogs/{dog}", None, [dog]


def _cycles_row(rule, row, val, c):
    n = int(val) if val is not None else 1
    n = max(1, n)
    ev = [(f"gt witness status {c.rig}", f"Witness {c.rig}: running=false  session={c.prefix}-witness (missing)  last_heartbeat={c.ts(n * 7)}"),
          ("cat deacon/state.json | jq .health_state", json.dumps({c.rig: {"witness": {"unresponsive_cycles": n, "last_seen_healthy": c.ts(n * 7)}}}))]
    return ev, f"the {c.rig} witness has been unresponsive for {n} patrol cycle{'s' if n > 1 else ''} (band {row.cells[0].strip()}).", f"{c.rig}/witness", None, [c.rig]


_RENDER_ROW = {"boot-table": _boot_row, "dog-timeout": _dog_row, "health-cycles": _cycles_row}


def _dog_cases(rule, c):
    """The timeout table's rows plus a dog still inside its timeout (not stuck: no action)."""
    out = _table_cases(rule, c)
    timeout = rule.threshold or 10
    dog, mult = c.rng.choice(DOGS), round(c.rng.uniform(0.2, 0.9), 1)
    st = {"name": dog, "state": "working", "current_work": f"plugin:{c.rng.choice(['rebuild-gt', 'dolt-backup', 'jsonl'])}",
          "work_started_at": c.ts(timeout * mult)}
    ev = [("gt dog list --json", json.dumps([{"name": dog, "state": "working"}])),
          (f"gt dog status {dog} --json", json.dumps(st, indent=2)), ("date -u +%FT%TZ", c.now.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    out.append(Case("below-threshold", "general:continue", ev,
                    f"dog {dog} started {st['current_work']} at {st['work_started_at'][11:16]}, now {c.now.strftime('%H:%M')}: "
                    f"{_age(timeout * mult)} < its {int(timeout)}m timeout, not stuck.", f"deacon/dogs/{dog}", cites=[dog]))
    return out


def _with_docked(rule, c):
    out = _table_cases(rule, c)
    if "docked" in rule.actions:
        out.append(Case("nothing-wrong", "docked", [(f"gt rig status {c.rig}", f"Rig {c.rig}: DOCKED\n  witness   stopped\n  refinery  stopped")],
                        f"rig {c.rig} is DOCKED, off on purpose; skip it, no restart or escalation.", cites=[c.rig]))
    return out


def _go_test(c, fail: str | None, pkg="internal/mail") -> tuple[str, str]:
    if fail is None:
        return "go test ./...", f"ok  \tgithub.com/steveyegge/gastown/{pkg}\t2.113s\nok  \tgithub.com/steveyegge/gastown/internal/cmd\t4.870s"
    return "go test ./...", (f"--- FAIL: {fail} (0.02s)\n    {fail.lower()}_test.go:{c.rng.randint(20, 300)}: expected 3 messages, got 2\n"
                             f"FAIL\nFAIL\tgithub.com/steveyegge/gastown/{pkg}\t1.904s\nok  \tgithub.com/steveyegge/gastown/internal/cmd\t4.870s")


def _pytest(c, fail: str | None) -> tuple[str, str]:
    n = c.rng.randint(40, 300)
    if fail is None:
        return "pytest -q", f"{'.' * 30}\n{n} passed in {c.rng.uniform(2, 40):.2f}s"
    return "pytest -q", (f"{'.' * 12}F{'.' * 10}\nFAILED tests/test_core.py::{fail} - AssertionError: assert 2 == 3\n"
                         f"1 failed, {n} passed in {c.rng.uniform(2, 40):.2f}s")


def _tests(rule, c):
    mr = c.new_bead()
    go = c.rng.random() < 0.5
    name = c.rng.choice(TESTS_GO if go else TESTS_PY)
    run = (lambda f: _go_test(c, f)) if go else (lambda f: _pytest(c, f))
    branch = f"polecat/{c.cat}/{c.bead}@{c.hid(6)}"
    head = ("git log --oneline -1", f"{c.sha()} {c.rng.choice(['fix: drain keeps HELP', 'feat: stage flag'])} ({c.bead})")
    fail_cmd, fail_out = run(name)
    out = [Case("clear-hit", "hit", [("git branch --show-current", "temp"), head, (fail_cmd, fail_out),
                                     (f"git checkout origin/main -q && {fail_cmd}", run(None)[1])],
                f"{name} fails on {c.cat}'s branch for MR {mr} but passes on main: the branch broke it.",
                f"{c.rig}/polecats/{c.cat}", mr, None, [name])]
    if "pre-existing" in rule.actions:
        out.append(Case("conflicting-signals", "pre-existing",
                        [head, (fail_cmd, fail_out), (f"git checkout origin/main -q && {fail_cmd}", fail_out)],
                        f"{name} fails the same way on main without MR {mr}: a pre-existing failure, file a bug and go on.",
                        None, mr, f'bd create --type=bug --priority=1 --title="Pre-existing failure: {name}"', [name]))
    if "flaky" in rule.actions:
        out.append(Case("flaky", "flaky", [(fail_cmd, fail_out.replace("expected 3 messages, got 2", "i/o timeout after 5s")),
                                           ("bd list --label flaky --json", json.dumps([{"id": c.new_bead(), "title": f"Flaky: {name} times out under load",
                                                                                         "status": "open", "labels": ["flaky"]}]))],
                        f"{name} failed with a timeout and is a known flaky test; retry it once before failing MR {mr}.", None, mr, None, [name]))
    ok_action = "clear" if "clear" in rule.actions else "general:continue"
    out.append(Case("nothing-wrong", ok_action, [head, run(None)], f"all tests pass on MR {mr} from {c.cat}; go on to merge.", None, mr,
                    cites=[mr]))
    return out


def _conflict(rule, c):
    mr = c.new_bead()
    branch = f"polecat/{c.cat}/{c.bead}@{c.hid(6)}"
    f1 = c.rng.choice(["internal/mail/drain.go", "internal/cmd/sling.go", "cmd/bd/ready.go"])
    conflict = (f"git rebase origin/main", f"Auto-merging {f1}\nCONFLICT (content): Merge conflict in {f1}\n"
                                          f"error: could not apply {c.sha()}... {c.bead}: change\nhint: Resolve all conflicts manually")
    out = [Case("clear-hit", "hit", [(f"git checkout -b temp origin/{branch}", f"Switched to a new branch 'temp'"), conflict, ("echo $?", "1")],
                f"rebasing MR {mr} ({branch}) onto main conflicts in {f1}; keep the branch and hand it back.", f"{c.rig}/polecats/{c.cat}",
                mr, None, [f1, mr])]
    if "gone" in rule.actions:
        out.append(Case("clear-hit", "gone", [(f"git ls-remote --exit-code origin refs/heads/{branch}; echo $?", "2")],
                        f"{branch} of MR {mr} no longer exists on origin; close the MR bead, it is not a merge failure.", None, mr,
                        f'bd close {mr} --reason "Branch no longer exists"', [mr]))
    out.append(Case("nothing-wrong", "clear" if "clear" in rule.actions else "general:continue",
                    [(f"git rebase origin/main", f"Successfully rebased and updated refs/heads/temp."), ("echo $?", "0")],
                    f"MR {mr} rebased cleanly onto main; go on to the tests.", None, mr, cites=[mr]))
    return out


def _queue(rule, c):
    mr = c.new_bead()
    branch = f"polecat/{c.cat}/{c.bead}@{c.hid(6)}"
    out = [Case("nothing-wrong", "hit", [(f"gt mq list {c.rig}", "No merge requests in queue.")],
                f"the {c.rig} merge queue is empty; skip ahead.", cites=[c.rig])]
    if "gone" in rule.actions:
        out.append(Case("clear-hit", "gone", [(f"gt mq list {c.rig}", f"{mr}  {branch}  {c.cat}  ready  {_age(30)}"),
                                            (f"git branch -r | grep {branch}", "")],
                        f"MR {mr} is queued but {branch} is missing on origin; close the MR bead.", None, mr,
                        f'bd close {mr} --reason "Branch no longer exists"', [mr]))
    return out


def _context(rule, c):
    thr = rule.threshold
    lo = round(c.rng.uniform(max(5, thr - 40), thr - 3))
    near = round(c.rng.uniform(thr - 4, thr - 1))
    hi = round(c.rng.uniform(thr + 2, 97))
    ctx = lambda p: ("gt context --usage", f"context: {p}% used ({p * 2000:,} / 200,000 tokens)")
    return [Case("above-threshold", "hit", [ctx(hi)], f"context {hi}% > {int(thr)}% handoff limit: write a handoff and cycle.",
                 command='gt handoff -m "patrol state: ..."', cites=[f"{hi}%"]),
            Case("below-threshold", "general:continue", [ctx(near)], f"context {near}% < {int(thr)}% handoff limit: keep patrolling.",
                 cites=[f"{near}%"]),
            Case("nothing-wrong", "general:continue", [ctx(lo)], f"context {lo}% < {int(thr)}% handoff limit: loop.", cites=[f"{lo}%"])]


def _export(rule, c):
    db = c.rng.choice(DBS)
    prev = c.rng.randint(300, 4000)
    out = []
    if rule.unit == "%":
        thr = rule.threshold / 100
        big = int(prev * (1 - c.rng.uniform(thr * 1.3, 0.8)))
        small = int(prev * (1 - c.rng.uniform(0.0, thr * 0.6)))
    else:
        big = prev - int(rule.threshold) - c.rng.randint(3, 200)
        small = prev - c.rng.randint(0, max(0, int(rule.threshold) - 1))
    cnt = lambda n: (f"wc -l archive/{db}/issues.jsonl; git -C archive show HEAD:{db}/issues.jsonl | wc -l", f"{n} archive/{db}/issues.jsonl\n{prev}")
    out.append(Case("above-threshold", "hit", [cnt(big)], f"{db} export dropped from {prev} to {big} issues, past the limit: halt, do not commit.",
                    "mayor/", command=None, cites=[db, str(big)]))
    out.append(Case("below-threshold", "general:continue", [cnt(small)], f"{db} export went from {prev} to {small} issues, within the limit; commit.",
                    cites=[db, str(small)]))
    if "first" in rule.actions:
        out.append(Case("nothing-wrong", "first", [(f"git -C archive show HEAD:{db}/issues.jsonl | wc -l",
                                                    f"fatal: path '{db}/issues.jsonl' does not exist in 'HEAD'\n0")],
                        f"{db} has no previous export in the archive, so this first export skips verification.", cites=[db]))
    return out


def _orphan_db(rule, c):
    thr = int(rule.threshold)
    few, many = c.rng.randint(1, max(1, thr // 2)), c.rng.randint(thr + 1, thr * 4)
    names = lambda n: "\n".join(["hq", "gt", "bd"] + [c.rng.choice(["testdb_", "beads_t", "doctest_"]) + c.hid(6) for _ in range(min(n, 6))]
                                + ([f"... ({n - 6} more)"] if n > 6 else []))
    return [Case("below-threshold", "hit", [("dolt sql -q 'SHOW DATABASES'", names(few))],
                 f"{few} orphan test databases ({few} <= {thr}): drop them via SQL.", cites=[str(few)]),
            Case("above-threshold", "over", [("dolt sql -q 'SHOW DATABASES'", names(many))],
                 f"{many} orphan databases ({many} > {thr}): too many for SQL cleanup, escalate.",
                 command=f'gt escalate -s HIGH "Dolt: {many} orphan databases detected (too many for SQL cleanup)"', cites=[str(many)]),
            Case("nothing-wrong", "clear", [("dolt sql -q 'SHOW DATABASES'", "hq\ngt\nbd")], "only production databases hq, gt and bd exist; nothing to clean.",
                 cites=["hq"])]


def _phantom(rule, c):
    db = c.rng.choice(["beads_old", "gt_tmp", "hq_copy", "lg"])
    return [Case("clear-hit", "hit", [(f"ls -d ~/gt/.dolt-data/*/", "hq/\ngt/\nbd/\n" + db + "/"),
                                      (f"ls ~/gt/.dolt-data/{db}/.dolt/noms/manifest", f"ls: cannot access '{db}/.dolt/noms/manifest': No such file or directory")],
                 f"{db} has a .dolt/ folder but no noms/manifest: a phantom database; escalate, never delete its files.",
                 command=f'gt escalate -s HIGH "Dolt: detected 1 phantom database(s): {db}"', cites=[db]),
            Case("nothing-wrong", "clear", [(f"ls -d ~/gt/.dolt-data/*/", "hq/\ngt/\nbd/"), ("ls ~/gt/.dolt-data/*/.dolt/noms/manifest | wc -l", "3")],
                 "all 3 databases in .dolt-data have a noms/manifest; no phantoms.", cites=["manifest"])]


def _orphan_bead(rule, c):
    assignee = f"{c.rig}/polecats/{c.cat}"
    lst = ("bd list --status=in_progress --json", json.dumps([{"id": c.bead, "status": "in_progress", "assignee": assignee,
                                                              "updated_at": c.ts(c.rng.uniform(60, 600))}]))
    sess = lambda alive: (f"gt session status {assignee} --json | jq -r '.running'", "true" if alive else "false")
    out = [Case("clear-hit", "hit", [lst, sess(False), (f"ls {c.rig}/polecats/{c.cat} 2>/dev/null; echo $?", "2")],
                f"{c.bead} is in_progress for {c.cat}, whose session is dead and directory gone: an orphan.", assignee, c.bead, None, [c.bead])]
    if "dir-exists" in rule.actions:
        out.append(Case("dirty-worktree", "dir-exists", [lst, sess(False), (f"ls {c.rig}/polecats/{c.cat}", f"{c.rig}\n.beads")],
                        f"{c.cat}'s session is dead but its directory still exists, so {c.bead} is not orphaned; the scan handles it.",
                        assignee, c.bead, cites=[c.bead]))
    out.append(Case("nothing-wrong", "clear" if "clear" in rule.actions else "general:continue", [lst, sess(True)],
                    f"{c.cat} is alive and working {c.bead}; no orphan.", assignee, c.bead, cites=[c.bead]))
    return out


def _gates(rule, c):
    gid = f"{c.prefix}-{c.hid()}.gate-{c.rng.choice(['await-ci', 'cooldown', 'review'])}"
    mins = c.rng.randint(30, 600)
    expired = ("bd gate list --status open --json", json.dumps([{"id": gid, "await_type": "timer", "created_at": c.ts(mins * 2),
                                                                 "timeout": f"{mins}m"}]))
    out = [Case("clear-hit", "hit", [expired, ("date -u +%FT%TZ", c.now.strftime("%Y-%m-%dT%H:%M:%SZ"))],
                f"timer gate {gid} was created {_age(mins * 2)} ago ({_age(mins * 2)} > {mins}m timeout): expired, resolve it.", None, gid, None, [gid]),
           Case("nothing-wrong", "clear" if "clear" in rule.actions else "general:continue",
                [("bd gate list --status open --json", "[]")], "no open timer gates; nothing expired.", cites=["gate"])]
    if "human" in rule.actions:
        out.append(Case("destructive-guard", "human", [("bd gate list --status open --json",
                                                        json.dumps([{"id": gid, "await_type": "human", "created_at": c.ts(mins * 3)}]))],
                        f"{gid} is a human gate; it waits for a person, leave it alone.", None, gid, cites=[gid]))
    return out


def _stale_handoff(rule, c):
    thr = rule.threshold or 60
    below, above = ages_around(thr, c.rng)
    mid = c.hid(5)
    inbox = lambda age: ("gt mail inbox deacon --json", json.dumps([{"id": f"hq-{mid}", "from": "deacon/", "subject": "🤝 HANDOFF: patrol state",
                                                                    "timestamp": c.ts(age)}]))
    return [Case("above-threshold", "hit", [inbox(above)], f"handoff hq-{mid} is {_age(above)} old ({_age(above)} > {_age(thr)}): stale, archive it.",
                 command=f"gt mail archive hq-{mid}", cites=[f"hq-{mid}"]),
            Case("below-threshold", "general:continue", [inbox(below)], f"handoff hq-{mid} is {_age(below)} old ({_age(below)} < {_age(thr)}): fresh, keep it for the deacon.",
                 cites=[f"hq-{mid}"])]


def _reaper(rule, c):
    thr = int(rule.threshold)
    db = c.rng.choice(DBS)
    scan = lambda n, cand: (f"gt reaper scan --db={db} --json", json.dumps({"db": db, "open_wisps": n, "reap_candidates": cand,
                                                                            "purge_candidates": c.rng.randint(0, 40), "anomalies": []}))
    over, under = c.rng.randint(thr + 1, thr * 3), c.rng.randint(10, thr - 1)
    return [Case("above-threshold", "hit", [scan(over, c.rng.randint(5, 90))],
                 f"{db} reports {over} open wisps ({over} > {thr} alert threshold): escalate.", cites=[db]),
            Case("below-threshold", "general:continue", [scan(under, c.rng.randint(1, 40))],
                 f"{db} reports {under} open wisps ({under} < {thr} alert threshold) and reap candidates: proceed.",
                 cites=[db]),
            Case("nothing-wrong", "clear", [scan(c.rng.randint(0, 50), 0)], f"no reap candidates in {db}; skip the remaining steps.", cites=[db])]


def _probe(rule, c):
    port = 3307
    ok = lambda ms: ("time dolt sql -q 'SELECT active_branch()'", f"+-----------------+\n| active_branch() |\n+-----------------+\n| main            |\n+-----------------+\n\nreal\t0m{ms / 1000:.3f}s")
    out = [Case("clear-hit", "hit", [("dolt sql -q 'SELECT active_branch()'", f"error: dial tcp 127.0.0.1:{port}: connect: connection refused")],
                f"the Dolt server on port {port} refuses connections: unreachable, escalate as CRITICAL.",
                command=f'gt escalate -s CRITICAL "Dolt: server unreachable on port {port}"', cites=[str(port)]),
           Case("nothing-wrong", "general:continue", [ok(c.rng.randint(3, 80))], "the probe answered quickly; the server is healthy.", cites=["active_branch"])]
    if "slow" in rule.actions and rule.threshold:
        ms = int(rule.threshold * c.rng.uniform(1.3, 4))
        out.append(Case("above-threshold", "slow", [ok(ms)], f"the probe took {ms} ms ({ms} > {int(rule.threshold)} ms latency threshold): slow, warn.",
                        cites=[str(ms)]))
    return out


def _checkpoint(rule, c):
    wt = f"{c.rig}/polecats/{c.cat}"
    return [Case("dirty-worktree", "hit", [has_session(f"{c.prefix}-{c.cat}", True), (f"git -C {wt} status --porcelain", git_status(c, True)[1])],
                 f"{c.cat}'s worktree has uncommitted changes and a live session; commit a WIP checkpoint.", wt,
                 command=f'git -C {wt} commit -m "WIP: checkpoint (auto)"', cites=[c.cat]),
            Case("nothing-wrong", "general:continue", [has_session(f"{c.prefix}-{c.cat}", True), (f"git -C {wt} status --porcelain", "")],
                 f"{c.cat}'s worktree is clean; nothing to checkpoint.", wt, cites=[c.cat])]


# ---- step-specific families ---------------------------------------------------------------

def _health_json(c, *, running=True, latency=None, commits=None, dolt_stale=False, jsonl_stale=False, zombies=(),
                 orphans=()) -> tuple[str, str]:
    """``gt health --json`` (the HealthReport fields the deacon's dolt-health step lists)."""
    dbs = [{"name": db, "issues": c.rng.randint(200, 9000), "open_issues": c.rng.randint(5, 300),
            "wisps": c.rng.randint(10, 900), "open_wisps": c.rng.randint(0, 60),
            "commits": (commits or {}).get(db, c.rng.randint(800, 30000))} for db in ("hq", "gt", "bd")]
    rep = {"server": {"running": running, "pid": c.rng.randint(2000, 90000) if running else 0, "port": 3307,
                      "latency_ms": (latency if latency is not None else c.rng.randint(2, 90)) if running else None,
                      "connections": c.rng.randint(1, 30) if running else 0,
                      "disk_usage_human": f"{c.rng.uniform(0.2, 9):.1f} GB"},
           "databases": dbs if running else [],
           "backups": {"dolt_stale": dolt_stale, "dolt_freshness": _age(c.rng.uniform(40, 300) if dolt_stale else c.rng.uniform(1, 25)),
                       "jsonl_stale": jsonl_stale, "jsonl_freshness": _age(c.rng.uniform(40, 300) if jsonl_stale else c.rng.uniform(1, 25))},
           "processes": {"zombie_count": len(zombies), "zombie_pids": list(zombies)},
           "orphans": [{"name": o, "size": f"{c.rng.randint(1, 400)} MB"} for o in orphans], "pollution": []}
    return "gt health --json", json.dumps(rep, indent=1)


def _dolt_health(rule, c):
    thr = int(rule.threshold or 50000)
    lat_thr = int(rule.extra.get("latency_ms") or 5000)
    db = c.rng.choice(("hq", "gt", "bd"))
    out = [Case("clear-hit", "hit", [_health_json(c, running=False)],
                "server.running is false: the Dolt server is down, a CRITICAL escalation.",
                command='gt escalate -s CRITICAL "Dolt server is down"', cites=["running"])]
    if "bloat" in rule.actions:
        n = c.rng.randint(thr + 1000, thr * 3)
        out.append(Case("above-threshold", "bloat", [_health_json(c, commits={db: n})],
                        f"database {db} has {n} commits ({n} > {thr}): the compactor dog may have stalled, dispatch one.", target=db,
                        command=f"gt dog dispatch --formula mol-dog-compactor --var db={db}", cites=[db]))
        m = c.rng.randint(int(thr * 0.5), thr - 500)
        out.append(Case("below-threshold", "clear", [_health_json(c, commits={db: m})],
                        f"{db} is at {m} commits ({m} < {thr}), backups fresh, no zombies or orphans: Dolt health OK.", cites=[db]))
    if "stale-backup" in rule.actions:
        which = c.rng.choice(("dolt", "jsonl"))
        out.append(Case("clear-hit", "stale-backup", [_health_json(c, dolt_stale=which == "dolt", jsonl_stale=which == "jsonl")],
                        f"backups.{which}_stale is true: the backup dog may have failed, dispatch a backup.",
                        command="gt dog dispatch --formula mol-dog-backup", cites=[f"{which}_stale"]))
    if "zombie-proc" in rule.actions:
        pids = [c.rng.randint(3000, 60000) for _ in range(c.rng.randint(1, 3))]
        out.append(Case("clear-hit", "zombie-proc", [_health_json(c, zombies=pids)],
                        f"processes.zombie_count is {len(pids)} (pid {pids[0]}): zombie Dolt servers, kill the imposters.",
                        command="gt dolt kill-imposters", cites=[str(pids[0])]))
    if "orphans" in rule.actions:
        orphan = c.rng.choice(["testdb_", "beads_t", "doctest_"]) + c.hid(6)
        out.append(Case("clear-hit", "orphans", [_health_json(c, orphans=[orphan])],
                        f"orphan database {orphan} is accumulating: run the Dolt cleanup.", command="gt dolt cleanup", cites=[orphan]))
    lat = c.rng.randint(int(lat_thr * 0.1), int(lat_thr * 0.8))
    out.append(Case("nothing-wrong", "clear", [_health_json(c, latency=lat)],
                    f"server running with {lat} ms latency ({lat} < {lat_thr} ms), every database under {thr} commits, backups fresh: OK.",
                    cites=[str(lat)]))
    return out


def _convoy(rule, c):
    cid = f"hq-cv-{c.hid(5)}"
    name = c.rng.choice(["mail drain hardening", "sling vars rollout", "dolt migration", "v0.9 release", "routes cleanup"])
    n = c.rng.randint(2, 6)
    beads = [f"{c.rng.choice(RIGS)[1]}-{c.hid()}" for _ in range(n)]
    lst = lambda done: ("gt convoy list", f"{'ID':<14} {'TITLE':<24} PROGRESS\n{cid:<14} {name:<24} {done}/{n} closed")
    status = lambda open_: (f"gt convoy status {cid}", "\n".join(
        [f"Convoy {cid}: {name}"] + [f"  {b:<10} {'open' if b in open_ else 'closed':<12} {c.rng.choice(['gastown', 'beads', 'ledger'])}"
                                     for b in beads]))
    open_ = beads[c.rng.randrange(n)]
    return [Case("clear-hit", "hit", [lst(n), status(())], f"all {n} tracked issues of convoy {cid} are closed: close the convoy.",
                 target=cid, command="gt convoy check", cites=[cid]),
            Case("below-threshold", "clear", [lst(n - 1), status((open_,))],
                 f"convoy {cid} is {n - 1}/{n} closed; {open_} is still open, so wait.", target=cid, cites=[open_]),
            Case("nothing-wrong", "general:continue", [("gt convoy list", "No open convoys.")], "gt convoy list shows no open convoys.",
                 cites=["convoys"])]


def _compactor(rule, c):
    thr = int(rule.threshold or 500)
    dbs = ["hq", "bd", "gt"]
    def counts(vals):
        rows = "\n".join(f"| {db:<4} | {v:>8} |" for db, v in zip(dbs, vals))
        return ("for db in hq bd gt; do dolt sql -q \"SELECT '$db' AS db, COUNT(*) AS commits FROM `$db`.dolt_log\"; done",
                f"+------+----------+\n| db   | commits  |\n+------+----------+\n{rows}\n+------+----------+")
    big = c.rng.randrange(3)
    over = [c.rng.randint(int(thr * 1.2), thr * 8) if i == big else c.rng.randint(20, int(thr * 0.8)) for i in range(3)]
    under = [c.rng.randint(20, int(thr * 0.95)) for _ in range(3)]
    return [Case("above-threshold", "hit", [counts(over)], f"{dbs[big]} has {over[big]} commits ({over[big]} > {thr} threshold): compact it.",
                 target=dbs[big], cites=[dbs[big]]),
            Case("below-threshold", "clear", [counts(under)],
                 f"hq {under[0]}, bd {under[1]} and gt {under[2]} commits are all under the {thr} threshold: skip compaction.",
                 cites=[str(under[0])])]


def _cleanup_wisp(rule, c):
    wisp = f"{c.prefix}-wisp-{c.hid(5)}"
    wt = f"polecats/{c.cat}"
    lst = ("bd list --status open --label cleanup --json", json.dumps(
        [{"id": wisp, "title": f"cleanup: {c.cat}", "status": "open", "issue_type": "task", "priority": 2,
          "labels": ["cleanup", "state:pending"], "created_at": c.ts(c.rng.uniform(5, 300))}], indent=1))
    branch = f"polecat/{c.cat}/{c.bead}"
    st = lambda dirty: (f"git -C {wt} status --porcelain", git_status(c, dirty)[1])
    unpushed = lambda n: (f"git -C {wt} log @{{u}}..HEAD --oneline", "\n".join(f"{c.sha()} wip: {c.bead} part {i + 1}" for i in range(n)))
    stash = (f"git -C {wt} stash list", "")
    out = [Case("dirty-worktree", "dirty", [lst, st(True), unpushed(0), stash],
                f"{c.cat}'s worktree has uncommitted changes for cleanup wisp {wisp}: commit and push them, then nuke.",
                target=f"{c.rig}/polecats/{c.cat}", bead=wisp, cites=[c.cat]),
           Case("dirty-worktree", "dirty", [lst, st(False), unpushed(c.rng.randint(1, 3)), stash],
                f"{c.cat} has unpushed commits on {branch} (wisp {wisp}): push to origin, then nuke.",
                target=f"{c.rig}/polecats/{c.cat}", bead=wisp, cites=[c.cat]),
           Case("clear-hit", "hit", [lst, st(False), unpushed(0), stash],
                f"{c.cat}'s worktree is clean with nothing unpushed, so wisp {wisp} resolves locally: nuke and close the wisp.",
                target=f"{c.rig}/polecats/{c.cat}", bead=wisp, command=f'bd close {wisp} --reason "Resolved: clean, nuked"', cites=[c.cat]),
           Case("nothing-wrong", "clear", [("bd list --status open --label cleanup --json", "[]")],
                "no open cleanup wisps in the list; skip the step.", cites=["cleanup"])]
    if "lost" in rule.actions:
        out.append(Case("conflicting-signals", "lost",
                        [lst, (f"git -C {wt} status --porcelain", f"fatal: cannot change to '{wt}': No such file or directory"),
                         (f"git ls-remote origin refs/heads/{branch}", "")],
                        f"{c.cat}'s worktree is gone and {branch} is not on origin: the work of wisp {wisp} is lost, escalate to the deacon.",
                        target="deacon/", bead=wisp, command=f'gt mail send deacon/ -s "RECOVERY_NEEDED {c.rig}/{c.cat}"', cites=[c.cat]))
    return out


def _push_verify(rule, c):
    local = c.sha() + c.sha()
    remote = c.sha() + c.sha()
    ev = lambda r: [("git push origin main", "To github.com:town/" + c.rig + ".git"), ("git fetch origin", ""),
                    ("echo \"Local: $(git rev-parse main)\"; echo \"Remote: $(git rev-parse origin/main)\"", f"Local:  {local}\nRemote: {r}")]
    return [Case("clear-hit", "hit", ev(remote), f"local main {local[:7]} differs from origin/main {remote[:7]}: the push failed silently, retry it.",
                 command="git push origin main", cites=[local[:7]]),
            Case("nothing-wrong", "clear", ev(local), f"local and origin/main are both {local[:7]}: the push succeeded, go on.", cites=[local[:7]])]


def _loop(rule, c):
    rows = [f"{c.new_bead()}  polecat/{n}/{c.new_bead()}  {n}  ready  {_age(c.rng.uniform(2, 80))}" for n in c.others[:c.rng.randint(1, 3)]]
    first = rows[0].split()[0]
    return [Case("clear-hit", "hit", [(f"gt mq list {c.rig}", "\n".join(rows))],
                 f"{len(rows)} more MR(s) wait in the {c.rig} queue, next {first}: go back to process-branch with it.", bead=first, cites=[first]),
            Case("nothing-wrong", "clear", [(f"gt mq list {c.rig}", "No merge requests in queue.")],
                 f"the {c.rig} queue is empty: no more branches, go on to the summary.", cites=[c.rig])]


def _session_weight(rule, c):
    heavy_mb = rule.threshold or 1536
    rss = lambda mb: ("ps -o rss= -p $$", str(int(mb * 1024)))
    age = lambda h: ("echo \"Session age: $(( ($(date +%s) - CREATED) / 3600 ))h\"", f"Session age: {h}h")
    q = lambda n: (f"gt mq list {c.rig}", "\n".join(f"{c.new_bead()}  polecat/{x}/{c.new_bead()}  {x}  ready  {_age(c.rng.uniform(1, 40))}"
                                                    for x in c.others[:n]) or "No merge requests in queue.")
    big, old = int(heavy_mb * c.rng.uniform(1.0, 1.8)), c.rng.randint(9, 30)
    small, young = c.rng.randint(150, 450), c.rng.randint(0, 3)
    return [Case("above-threshold", "hit", [rss(big), age(old), q(c.rng.randint(0, 2))],
                 f"RSS {big} MB (>= {int(heavy_mb)} MB) and a {old}h session: heavy, hand off to a fresh session.",
                 command='gt handoff -m "refinery patrol: queue state ..."', cites=[str(big)]),
            Case("below-threshold", "clear", [rss(small), age(young), q(c.rng.randint(1, 3))],
                 f"RSS {small} MB and a {young}h session are light and MRs are queued: continue.", cites=[str(small)])]


BUILDERS = {"zombie": _zombie, "idle": _idle, "dead-session": _dead, "refinery-stall": _refinery_stall,
            "deacon-down": _deacon_down, "health": _health, "boot-table": _table_cases, "dog-timeout": _dog_cases,
            "health-cycles": _with_docked, "tests": _tests, "rebase-conflict": _conflict, "queue": _queue,
            "context": _context, "export-spike": _export, "orphan-db": _orphan_db, "phantom-db": _phantom,
            "orphan-bead": _orphan_bead, "timer-gate": _gates, "stale-handoff": _stale_handoff, "reaper": _reaper,
            "dolt-probe": _probe, "checkpoint": _checkpoint, "dolt-health": _dolt_health, "convoy": _convoy,
            "compactor": _compactor, "cleanup-wisp": _cleanup_wisp, "push-verify": _push_verify, "loop": _loop,
            "session-weight": _session_weight}


def cases_for(rule, rng: random.Random, n: int = 1) -> list[Case]:
    """``n`` rounds of cases for ``rule`` (each round draws fresh names/times from ``rng``).

    Raises:
        KeyError: no renderer for ``rule.family`` (every family in ``rules.FAMILIES`` has one).
    """
    build = BUILDERS[rule.family]
    out = []
    for _ in range(n):
        ctx = make_ctx(rng)
        for case in build(rule, ctx):
            case.rig, case.now = ctx.rig, ctx.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(case)
    return out
