"""How suite v2 was authored: rebuilds ``v2/*.jsonl`` (held-out patrol decisions per role, bd/gt
command cases, conventions) from the scenario families below.

v2 is independent of the training generators (``node0_ops/corpus``): its own rig, polecat, dog
and bead names, its own wording, its own four prompt framings and its own seed
(:data:`SEED`). ``tests/evals/test_v2_leakage.py`` proves that no v2 prompt is in a training split
(exactly or as a near-duplicate) and that no string template is shared with the corpus code.

Decision rules come from the patrol formulas (step ids only are quoted here):
``mol-witness-patrol`` (survey-workers, process-cleanups, check-refinery, context-check),
``mol-deacon-patrol`` (health-scan, zombie-scan "no kill authority", dog-health-check with its
timeout matrix, orphan-check "detect and dispatch", dolt-health, check-convoy-completion),
``mol-refinery-patrol`` (process-branch, run-tests, handle-failures, merge-push, loop-check),
the dog formulas (``mol-dog-compactor`` threshold 500 commits, ``mol-dog-reaper`` alert threshold
and anomalies, ``mol-dog-doctor``, ``mol-dog-stale-db``, ``mol-dog-jsonl``) and ``mol-boot-triage``
(its decide matrix: idle < 5 min nothing, 5-15 min nudge only with mail, > 15 min wake, dead start).
Each case cites the rule in its tags (``formula:step``) and requires the reason to name the
evidence (``checker_args.reason_mentions``).

Usage::

    python node0_ops/evals/suite/build_v2.py [OUT_DIR]     # default: the v2/ folder next to it
"""
import datetime
import json
import random
import sys
from pathlib import Path

from node0_ops.evals.checks import patrol_decision_schema

OUT = Path(__file__).resolve().parent / "v2"
V1 = Path(__file__).resolve().parent / "v1"
SEED = 90417
NOW = "2026-03-14T09:41:00Z"
CLOCK_TEXT = "Sat Mar 14 09:41:00 UTC 2026"   # `date -u` at NOW: time-dependent cases show it in every framing

RIGS = {"ironbark": "ib", "saltmarsh": "sm", "lanternworks": "lw"}
POLECATS = ["skerry", "ferrule", "tansy", "wickerby", "orrery", "quern", "lintel", "sorrel", "bodkin",
            "mizzen", "fescue", "gudgeon", "tallow", "rookery", "pawl", "oakum", "cordite", "vellum"]
DOGS = ["bramble", "cinder", "pumice", "thistle", "larch", "gorse"]
DATABASES = ["hq", "ironbark", "saltmarsh", "lanternworks"]
TESTS = ["TestLedgerRollover", "TestQuotaWindowResets", "TestManifestDigest", "TestHookLeaseExpiry",
         "test_invoice_rounding", "test_wal_replay_order", "TestRouteTableMerge", "test_sigv4_canonical_query"]
TITLES = ["Ledger rollover drops the last partial day", "Quota window resets one hour early",
          "Manifest digest ignores symlinks", "Hook lease outlives its polecat", "Invoice rounding uses banker's rule",
          "WAL replay applies frames out of order", "Route table merge loses wildcard entries",
          "Canonical query string double-encodes tildes"]

rng = random.Random(SEED)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def bead_id(prefix: str) -> str:
    """A fresh hash-style bead id ``<prefix>-<4 base36 chars>`` from the suite's RNG."""
    return prefix + "-" + "".join(rng.choice(_B36) for _ in range(4))


def pick(seq, k=None):
    return rng.choice(seq) if k is None else rng.sample(seq, k)


# ------------------------------------------------------------------------- prompt framings

CARDS = {
    "witness": "You watch over the polecats of the {rig} rig as its Witness ({rig}/witness): you look at worker health, "
               "clean up after finished polecats and raise problems you cannot fix.",
    "deacon": "You are the town's Deacon (deacon/). Each patrol cycle you check the rig agents, the Dolt data plane, "
              "the dog pool and convoys; you detect and dispatch, you do not do the dogs' work yourself.",
    "refinery": "You run the merge queue of the {rig} rig as its Refinery ({rig}/refinery): rebase each polecat branch "
                "on main, run the gates, merge what is green and bounce what is not.",
    "dog": "You are {dog}, one of the Deacon's dogs (deacon/dogs/{dog}). You carry out one maintenance formula "
           "on the town's databases and report back to the kennel.",
    "boot": "You are Boot (deacon/boot), the short-lived triage session that checks on the Deacon and picks one "
            "action from the triage matrix.",
}


def _evidence_plain(evidence) -> str:
    return "\n\n".join(f"$ {cmd}\n{out.rstrip()}" for cmd, out in evidence)


def _evidence_md(evidence) -> str:
    return "\n\n".join(f"`{cmd}`\n```text\n{out.rstrip()}\n```" for cmd, out in evidence)


def frame(k: int, role: str, who: dict, case: dict) -> tuple[list[dict], dict, bool]:
    """Messages, JSON schema and whether a ``target`` field is asked for, for framing ``k`` (0-3).

    0: role card as system + plain user turn, actions as a comma list.
    1: one user turn, markdown sections, actions as a JSON list.
    2: markdown role card + an extra-context section, actions in prose.
    3: one plain user turn asking for ``action``, ``reason`` and the optional ``target``.
    """
    allowed, step, formula = case["allowed"], case["step"], case["formula"]
    if case.get("needs_clock") and k != 2:   # framing 2 shows the clock in its context section
        case = dict(case, evidence=list(case["evidence"]) + [("date -u", CLOCK_TEXT)])
    card = CARDS[role].format(**who)
    schema = patrol_decision_schema(allowed)
    if k == 0:
        system = card + ' Reply with only a JSON object: {"action": "<allowed action>", "reason": "<one sentence that names what you saw>"}.'
        user = (f"Formula {formula}, step {step}.\n\n{_evidence_plain(case['evidence'])}\n\n{case['question']}\n"
                f"Allowed actions: {', '.join(allowed)}.")
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], schema, False
    if k == 1:
        user = (f"# Patrol decision: {role}, `{formula}` step `{step}`\n\n{card}\n\n## Evidence\n\n{_evidence_md(case['evidence'])}\n\n"
                f"## Allowed actions\n\n```json\n{json.dumps(allowed)}\n```\n\n## Your answer\n\n{case['question']} "
                'Respond with one JSON object `{"action": ..., "reason": ...}` and no other text; '
                "the reason must point at the evidence.")
        return [{"role": "user", "content": user}], schema, False
    if k == 2:
        system = (f"## Role\n{card}\n\n## Output\nAnswer with a single JSON object holding `action` and `reason` "
                  "(one sentence naming the agent, bead, database or test that decided it). No prose outside the JSON.")
        prose = ", ".join(f"`{a}`" for a in allowed[:-1]) + f" or `{allowed[-1]}`"
        extra = case.get("context") or f"Clock: {NOW}. Rig: {who.get('rig', 'town-level')}."
        user = (f"### Context\n{extra}\n\n### Observations ({formula} / {step})\n{_evidence_md(case['evidence'])}\n\n"
                f"### Decide\n{case['question']} You may choose {prose}.")
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], schema, False
    schema = {"type": "object",
              "properties": {"action": {"type": "string", "enum": list(allowed)},
                             "reason": {"type": "string", "minLength": 3, "maxLength": 200},
                             "target": {"type": "string", "maxLength": 80}},
              "required": ["action", "reason"], "additionalProperties": False}
    user = (f"{card}\nWorking through {formula}, currently at {step}. Here is what the checks printed:\n\n"
            f"{_evidence_plain(case['evidence'])}\n\n{case['question']} Pick exactly one of {json.dumps(allowed)}. "
            'Return JSON with "action", "reason" (cite the evidence) and optionally "target" '
            '(the agent, bead or database you act on, or "none").')
    return [{"role": "user", "content": user}], schema, True


# ------------------------------------------------------------------------- scenario families
# Each family returns a case dict: formula, step, evidence [(command, output)], question, allowed,
# accepted, reason (cites the evidence), wrong (an allowed but wrong action), cites, kind, target.

def _before(minutes: int) -> str:
    """RFC 3339 time ``minutes`` before :data:`NOW`."""
    now = datetime.datetime.strptime(NOW, "%Y-%m-%dT%H:%M:%SZ")
    return (now - datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}m ago" if minutes >= 60 else f"{minutes}m ago"


def polecat_table(rig: str, rows) -> str:
    lines = [f"Polecats in {rig} ({len(rows)})", "  NAME        STATE     HOOK      LAST OUTPUT"]
    for name, state, hook, mins in rows:
        lines.append(f"  {name:<11} {state:<9} {hook:<9} {_ago(mins)}")
    return "\n".join(lines)


W_SURVEY = ["continue", "nudge", "escalate", "restart"]


def witness_survey(variant: int, rig: str, p: str) -> dict:
    names = pick([n for n in POLECATS if n != p], 3)
    hooks = [bead_id(RIGS[rig]) for _ in range(3)]
    base = dict(formula="mol-witness-patrol", step="survey-workers", allowed=W_SURVEY)
    if variant == 0:
        mins = [rng.randint(1, 3), rng.randint(1, 4), rng.randint(0, 2)]
        rows = [(n, "working", h, m) for n, h, m in zip(names, hooks, mins)]
        return dict(base, evidence=[(f"gt polecat list {rig}", polecat_table(rig, rows))],
                    question="Anything to do about these workers?", accepted=["continue"], wrong="nudge",
                    reason=f"{rows[0][0]} and the others all produced output within the last few minutes.",
                    cites=[r[0] for r in rows], kind="noop", target="none")
    if variant == 1:
        m = rng.randint(4, 6)
        rows = [(p, "working", hooks[0], m), (names[0], "working", hooks[1], 1)]
        peek = f"  Running tests for {hooks[0]} ... (pytest -q tests/unit, {rng.randint(120, 400)} collected)"
        return dict(base, evidence=[(f"gt polecat list {rig}", polecat_table(rig, rows)), (f"gt peek {rig}/{p}", peek)],
                    question=f"{p} has been quiet for {m} minutes. What do you do?", accepted=["continue"], wrong="escalate",
                    reason=f"{p} has only been quiet {m} minutes and its pane shows tests running for {hooks[0]}.",
                    cites=[p, hooks[0]], kind="borderline", target=f"{rig}/polecats/{p}")
    if variant == 2:
        m = rng.randint(35, 95)
        rows = [(p, "idle", hooks[0], m), (names[0], "working", hooks[1], 2)]
        peek = f"> \n  (no tool calls since {_ago(m)}; prompt waiting)"
        return dict(base, evidence=[(f"gt polecat list {rig}", polecat_table(rig, rows)), (f"gt peek {rig}/{p}", peek),
                                    (f"git -C polecats/{p} log --oneline -1", f"{rng.getrandbits(28):07x} wip: parse config ({hooks[0]})")],
                    question=f"What do you do about {p}?", accepted=["nudge"], wrong="restart",
                    reason=f"{p} holds {hooks[0]} but has sat at an empty prompt for {_ago(m)[:-4]}.",
                    cites=[p, hooks[0]], kind="clear", target=f"{rig}/polecats/{p}")
    if variant == 3:
        m = rng.randint(130, 260)
        n = rng.randint(2, 4)
        status = (f"name: {p}\nstate: idle\nhook_bead: {hooks[0]}\nlast_output: {_ago(m)}\n"
                  f"nudges_unanswered: {n}\nstuck_threshold: 2h")
        return dict(base, evidence=[(f"gt polecat status {rig}/{p}", status)], question=f"How do you handle {p}?",
                    accepted=["escalate"], wrong="continue",
                    reason=f"{p} ignored {n} nudges and has been silent past its 2h stuck threshold on {hooks[0]}.",
                    cites=[p, hooks[0]], kind="clear", target=f"{rig}/polecats/{p}")
    if variant == 4:
        agent = json.dumps([{"id": f"{RIGS[rig]}-{rig}-polecat-{p}", "issue_type": "agent", "status": "open",
                             "description": f"role_type: polecat\nrig: {rig}\nagent_state: working\nhook_bead: {hooks[0]}"}], indent=1)
        return dict(base, evidence=[(f"bd show {RIGS[rig]}-{rig}-polecat-{p} --json", agent),
                                    (f"tmux has-session -t {RIGS[rig]}-{p}; echo $?", f"can't find session: {RIGS[rig]}-{p}\n1"),
                                    (f"git -C polecats/{p} status --porcelain", "")],
                    question=f"What do you do about {p}?", accepted=["restart"], wrong="continue",
                    reason=f"{p}'s agent bead says working on {hooks[0]} but its tmux session is gone and the tree is clean.",
                    cites=[p, hooks[0]], kind="clear", target=f"{rig}/polecats/{p}")
    # variant 5: conflicting signals
    closed = json.dumps([{"id": hooks[0], "title": pick(TITLES), "status": "closed", "close_reason": "done",
                          "assignee": f"{rig}/polecats/{p}", "closed_at": "2026-03-14T08:02:11Z"}], indent=1)
    peek = f"  Edit src/ledger.go (+14 -3)\n  Running go test ./internal/ledger/...\n  [{p}] still working on {hooks[0]}"
    return dict(base, evidence=[(f"bd show {hooks[0]} --json", closed), (f"gt peek {rig}/{p}", peek)],
                question=f"The bead on {p}'s hook is closed yet the pane shows it still editing. What do you do?",
                accepted=["escalate"], wrong="restart",
                reason=f"{hooks[0]} is closed but {p} is still editing for it; the signals conflict, so raise it.",
                cites=[p, hooks[0]], kind="conflict", target=f"{rig}/polecats/{p}")


W_CLEAN = ["nuke", "preserve_then_nuke", "escalate", "skip"]


def witness_cleanup(variant: int, rig: str, p: str) -> dict:
    wisp, hook = bead_id(RIGS[rig] + "-wisp"), bead_id(RIGS[rig])
    base = dict(formula="mol-witness-patrol", step="process-cleanups", allowed=W_CLEAN)
    listing = json.dumps([{"id": wisp, "title": f"cleanup {rig}/{p}", "labels": ["cleanup", f"polecat:{p}"], "status": "open"}])
    if variant == 0:
        return dict(base, evidence=[("bd list --label cleanup --status=open --json", "[]")],
                    question="Cleanup wisps this cycle?", accepted=["skip"], wrong="nuke",
                    reason="bd list returned an empty list: there are no open cleanup wisps.", cites=["empty", "no open", "[]", "no cleanup"],
                    kind="noop", target="none")
    if variant == 1:
        return dict(base, evidence=[("bd list --label cleanup --status=open --json", listing),
                                    (f"git -C polecats/{p} status --porcelain", ""),
                                    (f"git -C polecats/{p} log @{{u}}..HEAD --oneline", ""),
                                    (f"git -C polecats/{p} stash list", "")],
                    question=f"Resolve the cleanup wisp for {p}.", accepted=["nuke"], wrong="escalate",
                    reason=f"{p}'s worktree is clean with nothing unpushed or stashed, so wisp {wisp} can be resolved by nuking.",
                    cites=[p, wisp], kind="clear", target=f"{rig}/polecats/{p}")
    if variant == 2:
        n = rng.randint(1, 3)
        log = "\n".join(f"{rng.getrandbits(28):07x} {m} ({hook})" for m in ["add rollover guard", "test partial day", "tidy"][:n])
        return dict(base, evidence=[("bd list --label cleanup --status=open --json", listing),
                                    (f"git -C polecats/{p} status --porcelain", ""),
                                    (f"git -C polecats/{p} log @{{u}}..HEAD --oneline", log)],
                    question=f"Resolve the cleanup wisp for {p}.", accepted=["preserve_then_nuke", "escalate"], wrong="nuke",
                    reason=f"{p} has {n} unpushed commit(s) for {hook}; push them before the nuke.",
                    cites=[p, hook], kind="dirty", target=f"{rig}/polecats/{p}")
    if variant == 3:
        files = pick(["src/ledger.go", "internal/quota/window.go", "docs/ops.md", "cmd/route/main.go", "tests/test_wal.py"], 2)
        porcelain = f" M {files[0]}\n?? {files[1]}"
        return dict(base, evidence=[("bd list --label cleanup --status=open --json", listing),
                                    (f"git -C polecats/{p} status --porcelain", porcelain)],
                    question=f"Resolve the cleanup wisp for {p}.", accepted=["preserve_then_nuke", "escalate"], wrong="nuke",
                    reason=f"{p} has uncommitted changes in {files[0]}; commit and push them before any nuke.",
                    cites=[p, files[0], files[1]], kind="dirty", target=f"{rig}/polecats/{p}")
    # variant 4: work lost / conflicting: remote branch deleted, local commits unpushed, branch not merged
    return dict(base, evidence=[("bd list --label cleanup --status=open --json", listing),
                                (f"gt polecat check-recovery {rig}/{p}", f"{p}: SAFE_TO_NUKE (branch merged)"),
                                (f"git -C polecats/{p} status --porcelain", " M internal/quota/window.go"),
                                (f"git -C polecats/{p} log @{{u}}..HEAD --oneline",
                                 f"fatal: no upstream configured for branch 'polecat/{p}/{hook}'")],
                question=f"check-recovery and git disagree about {p}. What do you do?", accepted=["escalate"], wrong="nuke",
                reason=f"check-recovery says SAFE_TO_NUKE but {p} still has a modified file and no upstream for {hook}.",
                cites=[p, hook], kind="conflict", target=f"{rig}/polecats/{p}")


def witness_refinery(variant: int, rig: str, p: str) -> dict:
    base = dict(formula="mol-witness-patrol", step="check-refinery", allowed=["ok", "start_refinery", "escalate"])
    mrs = [bead_id(RIGS[rig]) for _ in range(3)]
    queue = "\n".join(f"  {m}  polecat/{n}/{m}  ready  {rng.randint(3, 40)}m" for m, n in zip(mrs, pick(POLECATS, 3)))
    if variant == 0:
        return dict(base, evidence=[(f"gt session status {rig}/refinery", "running: false"), (f"gt mq list {rig}", queue)],
                    question="Refinery health?", accepted=["start_refinery"], wrong="ok",
                    reason=f"The {rig} refinery is not running while {mrs[0]} and two more MRs wait in the queue.",
                    cites=[mrs[0], mrs[1], mrs[2], "not running", "3 MRs"], kind="clear", target=f"{rig}/refinery")
    if variant == 1:
        return dict(base, evidence=[(f"gt session status {rig}/refinery", "running: false"), (f"gt mq list {rig}", "No merge requests in queue.")],
                    question="Refinery health?", accepted=["ok"], wrong="start_refinery",
                    reason=f"The {rig} refinery is down but its queue is empty, so nothing waits on it.",
                    cites=["empty", "no merge", "nothing"], kind="borderline", target="none")
    return dict(base, evidence=[(f"gt session status {rig}/refinery", "running: true"), ("gt mayor status --running", "false")],
                question="Refinery, mayor and deacon health?", accepted=["escalate"], wrong="ok",
                reason="gt mayor status --running printed false: the mayor is dead, which needs a HIGH escalation.",
                cites=["mayor"], kind="clear", target="mayor/")


def context_case(role: str, formula: str, step: str, variant: int) -> dict:
    pct = rng.randint(31, 58) if variant == 0 else rng.randint(84, 96)
    used = round(200 * pct / 100)
    out = f"context: {used}k of 200k tokens ({pct}%)\nsession age: {rng.randint(1, 6)}h{rng.randint(10, 59)}m"
    hi = variant != 0
    return dict(formula=formula, step=step, allowed=["continue", "handoff"], evidence=[("gt context --usage", out)],
                question="Keep looping or cycle the session?", accepted=["handoff"] if hi else ["continue"],
                wrong="continue" if hi else "handoff",
                reason=f"Context is at {pct}%, " + ("too full to run another cycle; hand off." if hi else "with plenty of room left."),
                cites=[f"{pct}%", f"{pct} %", f"{pct} percent"], kind="clear" if hi else "noop", target="none")


def deacon_health(variant: int) -> dict:
    rig = pick(list(RIGS))
    other = pick([r for r in RIGS if r != rig])
    base = dict(formula="mol-deacon-patrol", step="health-scan", allowed=["ok", "nudge", "restart", "escalate"])
    fails = [0, rng.randint(1, 2), 3, 3][variant]
    agent = f"{rig}/{pick(['witness', 'refinery'])}"
    state = {0: "healthy", 1: "slow", 2: "unresponsive", 3: "unresponsive"}[variant]
    table = (f"AGENT                 LAST PONG  FAILS  STATE\n{other + '/witness':<21} {rng.randint(5, 50)}s ago    0      healthy\n"
             f"{agent:<21} {[rng.randint(10, 50), rng.randint(70, 240), rng.randint(9, 20) * 60, rng.randint(9, 20) * 60][variant]}s ago  "
             f"{fails}/3    {state}")
    ev = [("gt deacon health-state", table)]
    if variant == 3:
        ev.append((f"gt deacon status {agent}", f"restarts (last 30m): 2\nlast restart: {rng.randint(1, 4)}m ago\nkill_cooldown: 5m"))
        return dict(base, evidence=ev, question=f"What do you do about {agent}?", accepted=["escalate"], wrong="restart",
                    reason=f"{agent} is still failing 3/3 after two restarts inside its 5m cooldown; a third restart will not help.",
                    cites=[agent], kind="conflict", target=agent)
    acc, wrong, reason, kind = {
        0: (["ok"], "restart", f"{agent} and {other}/witness both answer health pings with 0 failures.", "noop"),
        1: (["nudge", "ok"], "restart", f"{agent} missed {fails} of 3 pings; below the 3-failure limit, a nudge is enough.", "borderline"),
        2: (["restart"], "ok", f"{agent} reached 3/3 consecutive health-check failures.", "clear"),
    }[variant]
    return dict(base, evidence=ev, question=f"What do you do about {agent}?", accepted=acc, wrong=wrong, reason=reason,
                cites=[agent], kind=kind, target=agent if variant else "none")


def deacon_zombie(variant: int) -> dict:
    rig = pick(list(RIGS))
    p, hook = pick(POLECATS), bead_id(RIGS[rig])
    base = dict(formula="mol-deacon-patrol", step="zombie-scan", allowed=["kill", "report", "ignore"])
    if variant == 0:
        out = f"scanned 3 rigs, {rng.randint(4, 11)} polecat sessions: no zombies"
        return dict(base, evidence=[("gt deacon zombie-scan --dry-run", out)], question="Outcome of the zombie scan?",
                    accepted=["ignore"], wrong="kill", reason="The zombie scan found no zombies in any rig.",
                    cites=["no zombies", "none", "0 zombies", "found no"], kind="noop", target="none")
    out = f"ZOMBIE {rig}/polecats/{p}: session missing, {hook} still hooked, last output {_ago(rng.randint(90, 300))}"
    return dict(base, evidence=[("gt deacon zombie-scan --dry-run", out)],
                question="This step carries NO KILL AUTHORITY. What do you do?", accepted=["report"], wrong="kill",
                reason=f"{p} looks like a zombie holding {hook}, but this step may only report it.",
                cites=[p, hook], kind="clear", target=f"{rig}/polecats/{p}")


D_DOG = ["ok", "log_warning", "file_warrant", "force_clear_escalate"]


def deacon_dog_health(variant: int) -> dict:
    dog = pick(DOGS)
    timeout = pick([10, 10, 15, 20])
    factor = [0.6, 1.6, 3.2, 6.5][variant]
    mins = max(1, round(timeout * factor))
    work = pick(["plugin:rebuild-gt", "plugin:rotate-logs", "mol-dog-compactor", "mol-dog-jsonl"])
    status = json.dumps({"name": dog, "state": "working", "current_work": work, "work_started_at": _before(mins),
                         "plugin_timeout": f"{timeout}m"}, indent=1)
    acc = [D_DOG[variant]]
    reasons = [f"{dog} has run {work} for {mins}m, inside its {timeout}m timeout.",
               f"{dog} is {mins}m into {work}, over the {timeout}m timeout but under twice it: warn and recheck.",
               f"{dog} has been on {work} for {mins}m, between 2x and 5x its {timeout}m timeout.",
               f"{dog} has been on {work} for {mins}m, more than 5x its {timeout}m timeout."]
    wrong = ["file_warrant", "file_warrant", "ok", "log_warning"][variant]
    return dict(formula="mol-deacon-patrol", step="dog-health-check", allowed=D_DOG,
                evidence=[("gt dog list --json", json.dumps([{"name": dog, "state": "working"}])), (f"gt dog status {dog} --json", status)],
                question=f"How do you handle {dog}?", accepted=acc, wrong=wrong, reason=reasons[variant],
                cites=[dog], kind="borderline" if variant in (1, 2) else "clear",
                context=f"Clock: {NOW}. Default infrastructure timeout 10m unless the plugin sets one.", target=f"deacon/dogs/{dog}",
                needs_clock=True)


def deacon_orphans(variant: int) -> dict:
    rig = pick(list(RIGS))
    p, b = pick(POLECATS), bead_id(RIGS[rig])
    listing = json.dumps([{"id": b, "status": "in_progress", "assignee": f"{rig}/polecats/{p}", "title": pick(TITLES)}])
    alive = variant == 0
    ev = [("bd list --status=in_progress --json", listing),
          (f"gt session status {rig}/{p} --json", json.dumps({"session": f"{RIGS[rig]}-{p}", "running": alive}))]
    return dict(formula="mol-deacon-patrol", step="orphan-check", allowed=["skip", "dispatch_dog", "fix_inline"], evidence=ev,
                question="Any abandoned work to act on?", accepted=["skip"] if alive else ["dispatch_dog"],
                wrong="dispatch_dog" if alive else "fix_inline",
                reason=(f"{b}'s assignee {p} has a running session, so nothing is orphaned." if alive else
                        f"{b} is in_progress but {p}'s session is not running: sling the orphan scan to a dog."),
                cites=[b, p], kind="noop" if alive else "clear", target="none" if alive else b)


def deacon_dolt(variant: int) -> dict:
    outs = ["Dolt sql-server: running (pid {pid}, port 3307)\nDatabases: hq, ironbark, saltmarsh, lanternworks\nErrors (last 1h): 0",
            "Dolt sql-server: not running (last exit: signal 9, {m}m ago)\nport 3307: free",
            "Dolt sql-server: running (pid {pid}, port 3307)\nErrors (last 1h): {n}\nlast error: write failed: no space left on device (/var/lib/dolt)"]
    out = outs[variant].format(pid=rng.randint(2000, 9000), m=rng.randint(2, 30), n=rng.randint(12, 80))
    acc = [["ok"], ["restart_dolt"], ["escalate"]][variant]
    reasons = ["Dolt is running on port 3307 with all four databases and 0 errors.",
               "The Dolt sql-server is not running (killed by signal 9) and port 3307 is free.",
               "Dolt keeps failing writes with no space left on device; a restart will not free disk."]
    cites = [["0 errors", "running", "3307"], ["not running", "signal 9", "3307"], ["no space", "disk"]][variant]
    return dict(formula="mol-deacon-patrol", step="dolt-health", allowed=["ok", "restart_dolt", "escalate"],
                evidence=[("gt dolt status", out)], question="Result of the data-plane check?", accepted=acc,
                wrong=["restart_dolt", "ok", "restart_dolt"][variant], reason=reasons[variant], cites=cites,
                kind=["noop", "clear", "clear"][variant], target="none")


def deacon_convoy(variant: int) -> dict:
    cv = "hq-cv-" + "".join(rng.choice(_B36) for _ in range(4))
    ids = [bead_id(pick(list(RIGS.values()))) for _ in range(3)]
    states = ["closed", "closed", "closed"] if variant == 0 else ["closed", "in_progress", "closed"]
    out = f"Convoy {cv}: {pick(['Quota rework', 'Ledger hardening', 'Route cleanup'])}\n" + "\n".join(
        f"  {i}  {s}" for i, s in zip(ids, states))
    done = variant == 0
    return dict(formula="mol-deacon-patrol", step="check-convoy-completion", allowed=["close_convoy", "wait", "escalate"],
                evidence=[(f"gt convoy status {cv}", out)], question=f"Is {cv} finished?",
                accepted=["close_convoy"] if done else ["wait"], wrong="wait" if done else "close_convoy",
                reason=(f"All three beads tracked by {cv} are closed." if done else f"{ids[1]} in {cv} is still in progress."),
                cites=[cv] + ([] if done else [ids[1]]), kind="clear" if done else "noop", target=cv)


R_TEST = ["merge", "reject", "retry"]


def refinery_tests(variant: int, rig: str, p: str) -> dict:
    mr = bead_id(RIGS[rig])
    test = pick(TESTS)
    branch = f"polecat/{p}/{mr}"
    base = dict(formula="mol-refinery-patrol", step="handle-failures" if variant else "run-tests", allowed=R_TEST)
    if variant == 0:
        out = (f"gofmt: ok\nvet: ok\nok   example.org/{rig}/internal/ledger  {rng.randint(20, 90) / 100}s\n"
               f"ok   example.org/{rig}/internal/quota   {rng.randint(20, 90) / 100}s\nPASS ({rng.randint(180, 420)} tests)")
        return dict(base, evidence=[(f"make gates  # on rebased {branch}", out)], question=f"Decide on {mr}.",
                    accepted=["merge"], wrong="reject", reason=f"Every gate passed on the rebased {branch}.",
                    cites=[mr, branch, p], kind="clear", target=mr)
    if variant == 1:
        out = (f"--- FAIL: {test} ({rng.randint(1, 9) / 100}s)\n    {test.lower()}_test.go:{rng.randint(20, 200)}: got 41, want 42\n"
               f"FAIL example.org/{rig}/internal/ledger")
        return dict(base, evidence=[(f"go test ./...  # on rebased {branch}", out), ("git log --oneline -1 origin/main",
                                                                                   f"{rng.getrandbits(28):07x} main is green (CI #{rng.randint(400, 900)})")],
                    question=f"Decide on {mr}.", accepted=["reject"], wrong="merge",
                    reason=f"{test} fails on {branch} while main is green, so the branch broke it.",
                    cites=[test], kind="clear", target=mr)
    if variant == 2:
        out = (f"=== RUN {test}\n    dial tcp 127.0.0.1:3307: connect: connection refused\n--- FAIL: {test}\n"
               "FAIL (infrastructure: dolt sql-server unreachable)")
        return dict(base, evidence=[(f"go test ./...  # on rebased {branch}", out), ("gt dolt status", "Dolt sql-server: starting (pid 0)")],
                    question=f"Decide on {mr}.", accepted=["retry"], wrong="reject",
                    reason=f"{test} failed only because the Dolt server refused connections while starting, not because of {branch}.",
                    cites=[test, "dolt", "connection refused"], kind="borderline", target=mr)
    # variant 3: flaky: fails on branch AND on main
    out = f"FAIL {test} (1 of {rng.randint(200, 400)} tests)\n"
    return dict(base, evidence=[(f"pytest -q  # on rebased {branch}", out + "1 failed"),
                                ("pytest -q  # on origin/main, same runner", out + "1 failed")],
                question=f"Decide on {mr}.", accepted=["retry", "reject"], wrong="merge",
                reason=f"{test} fails on main as well as on {branch}; do not merge over a red gate.",
                cites=[test], kind="conflict", target=mr)


def refinery_rebase(variant: int, rig: str, p: str) -> dict:
    mr = bead_id(RIGS[rig])
    branch = f"polecat/{p}/{mr}"
    base = dict(formula="mol-refinery-patrol", step="process-branch", allowed=["continue", "spawn_conflict_task", "reject"])
    if variant == 0:
        out = f"Successfully rebased and updated refs/heads/temp.\n{rng.randint(1, 6)} commits replayed onto origin/main"
        return dict(base, evidence=[(f"git rebase origin/main  # temp = {branch}", out)], question=f"Next for {mr}?",
                    accepted=["continue"], wrong="spawn_conflict_task", reason=f"{branch} rebased onto origin/main cleanly.",
                    cites=[branch, mr, p], kind="clear", target=mr)
    f = pick(["internal/ledger/rollover.go", "internal/quota/window.go", "cmd/route/table.go"])
    out = f"Auto-merging {f}\nCONFLICT (content): Merge conflict in {f}\nerror: could not apply {rng.getrandbits(28):07x}"
    return dict(base, evidence=[(f"git rebase origin/main  # temp = {branch}", out)], question=f"Next for {mr}?",
                accepted=["spawn_conflict_task"], wrong="continue",
                reason=f"Rebasing {branch} conflicts in {f}; hand it to a conflict-resolution task.",
                cites=[f, branch, mr], kind="clear", target=mr)


def refinery_merge(variant: int, rig: str, p: str) -> dict:
    mr = bead_id(RIGS[rig])
    base = dict(formula="mol-refinery-patrol", step="merge-push", allowed=["proceed", "escalate"])
    porcelain = "" if variant == 0 else f" M {pick(['Makefile', 'go.sum', 'internal/ledger/day.go'])}\n?? notes-{p}.txt"
    ev = [("git status --porcelain  # refinery worktree", porcelain),
          ("git log --oneline origin/main..temp", f"{rng.getrandbits(28):07x} fix rollover ({mr})")]
    if variant == 0:
        return dict(base, evidence=ev, question=f"About to reset main and fast-forward {mr}. Go ahead?", accepted=["proceed"],
                    wrong="escalate", reason=f"The refinery worktree is clean and temp holds one commit for {mr}.",
                    cites=[mr, "clean"], kind="clear", target=mr)
    first = porcelain.split()[1]
    return dict(base, evidence=ev, question=f"About to reset main and fast-forward {mr}. Go ahead?", accepted=["escalate"],
                wrong="proceed", reason=f"The worktree has local changes ({first}) that a hard reset would destroy.",
                cites=[first, f"notes-{p}.txt"], kind="dirty", target=mr)


def refinery_queue(variant: int, rig: str, p: str) -> dict:
    base = dict(formula="mol-refinery-patrol", step="loop-check", allowed=["process_next", "wait", "handoff"])
    if variant == 0:
        stat = f"merged this cycle: {rng.randint(0, 5)}\nlast merge: {_ago(rng.randint(2, 90))}"
        return dict(base, evidence=[(f"gt mq list {rig}", "No merge requests in queue."), (f"gt mq status {rig}", stat)],
                    question="More work?",
                    accepted=["wait"], wrong="process_next", reason=f"The {rig} merge queue is empty.",
                    cites=["empty", "no merge"], kind="noop", target="none")
    mr = bead_id(RIGS[rig])
    out = f"  {mr}  polecat/{p}/{mr}  ready  {rng.randint(1, 25)}m\n  {bead_id(RIGS[rig])}  polecat/{pick(POLECATS)}/x  blocked  {rng.randint(30, 90)}m"
    return dict(base, evidence=[(f"gt mq list {rig}", out)], question="More work?", accepted=["process_next"], wrong="wait",
                reason=f"{mr} from {p} is ready in the queue.", cites=[mr, p], kind="clear", target=mr)


DOG_FAMILIES = []


def dog_compactor(variant: int) -> dict:
    db = pick(DATABASES)
    n = [rng.randint(120, 380), rng.randint(480, 499), rng.randint(501, 540), rng.randint(900, 3000)][variant]
    big = n > 500
    out = f"database      commits\n{db:<13} {n}\n{pick([d for d in DATABASES if d != db]):<13} {rng.randint(40, 300)}"
    return dict(formula="mol-dog-compactor", step="inspect", allowed=["compact", "skip"],
                evidence=[("gt compactor inspect --json | jq -r '.[] | \"\\(.db) \\(.commits)\"'", out)],
                question=f"Does {db} need compaction? (threshold: 500 commits)", accepted=["compact"] if big else ["skip"],
                wrong="skip" if big else "compact",
                reason=f"{db} has {n} commits, " + ("above" if big else "below") + " the 500-commit threshold.",
                cites=[db, str(n)], kind="borderline" if variant in (1, 2) else "clear", target=db)


def dog_reaper(variant: int) -> dict:
    db = pick(DATABASES)
    thr = 500
    if variant == 0:
        res = {"db": db, "open_wisps": rng.randint(20, 200), "reap_candidates": 0, "purge_candidates": 0, "anomalies": []}
        acc, wrong, reason, kind, cites = ["skip"], "proceed", f"{db} has no reap or purge candidates.", "noop", [db]
    elif variant == 1:
        res = {"db": db, "open_wisps": rng.randint(20, 300), "reap_candidates": rng.randint(5, 60), "purge_candidates": rng.randint(5, 90), "anomalies": []}
        acc, wrong, reason, kind, cites = ["proceed"], "escalate", f"{db} has {res['reap_candidates']} reap candidates and no anomalies.", "clear", [db]
    elif variant == 2:
        res = {"db": db, "open_wisps": rng.randint(thr + 50, thr * 4), "reap_candidates": rng.randint(5, 60), "purge_candidates": 3, "anomalies": []}
        acc, wrong, reason, kind, cites = ["escalate"], "proceed", f"{db} has {res['open_wisps']} open wisps, over the alert threshold of {thr}.", "clear", [db, str(res["open_wisps"])]
    else:
        w = bead_id("hq-wisp")
        res = {"db": db, "open_wisps": rng.randint(20, 300), "reap_candidates": 4, "purge_candidates": 2,
               "anomalies": [{"kind": "dangling_parent_ref", "wisp": w, "parent": bead_id("hq-mol")}]}
        acc, wrong, reason, kind, cites = ["escalate"], "proceed", f"{db} reports a dangling_parent_ref anomaly on {w}.", "conflict", [w, "dangling"]
    return dict(formula="mol-dog-reaper", step="scan", allowed=["proceed", "skip", "escalate"],
                evidence=[(f"gt reaper scan --db={db} --json", json.dumps(res, indent=1))],
                question="Go on to reaping?", accepted=acc, wrong=wrong, reason=reason, cites=cites, kind=kind,
                context=f"alert_threshold={thr} open wisps; clock {NOW}.", target=db)


def dog_doctor(variant: int) -> dict:
    outs = [("gt dolt status --probe", "SELECT 1 -> 1 (3ms)\nconnections: {c}/1000\ndisk: {d}% used"),
            ("gt dolt status --probe", "dial tcp 127.0.0.1:3307: connect: connection refused (3 attempts)"),
            ("df -h /var/lib/dolt", "Filesystem  Size  Used Avail Use% Mounted on\n/dev/nvme1  200G  {u}G  {a}G  {d}% /var/lib/dolt")]
    d = [rng.randint(21, 60), 0, rng.randint(93, 98)][variant]
    cmd, out = outs[variant]
    out = out.format(c=rng.randint(4, 40), d=d, u=d * 2, a=200 - d * 2)
    acc = [["report_healthy"], ["escalate"], ["escalate"]][variant]
    reasons = [f"SELECT 1 answered and disk is at {d}%.", "The probe to port 3307 was refused three times: the server is unreachable.",
               f"/var/lib/dolt is {d}% full."]
    cites = [[f"{d}%", "SELECT 1"], ["refused", "3307", "unreachable"], [f"{d}%", "full"]][variant]
    return dict(formula="mol-dog-doctor", step="probe" if variant < 2 else "inspect", allowed=["report_healthy", "escalate"],
                evidence=[(cmd, out)], question="Verdict for the kennel report?", accepted=acc,
                wrong="escalate" if variant == 0 else "report_healthy", reason=reasons[variant], cites=cites,
                kind=["noop", "clear", "borderline"][variant], target="none")


def dog_stale_db(variant: int) -> dict:
    name = f"testdb_{rng.randint(1000, 9999)}"
    if variant == 0:
        out = f"{name}   last write 19d ago   no rig route\nhq        last write 1m ago    route hq-"
        acc, wrong, reason, kind, cites = ["cleanup"], "skip", f"{name} has no rig route and no writes for 19 days.", "clear", [name]
    elif variant == 1:
        out = "hq        last write 1m ago    route hq-\nironbark  last write 3m ago    route ib-"
        acc, wrong, reason, kind, cites = ["skip"], "cleanup", "hq and ironbark are both routed and written minutes ago; nothing is stale.", "noop", ["hq", "ironbark"]
    else:
        out = f"saltmarsh   last write 26d ago   route sm-   {rng.randint(300, 900)} open issues"
        acc, wrong, reason, kind, cites = ["escalate", "skip"], "cleanup", "saltmarsh looks stale but is a routed rig database with open issues.", "conflict", ["saltmarsh"]
    return dict(formula="mol-dog-stale-db", step="scan", allowed=["cleanup", "skip", "escalate"],
                evidence=[("gt dolt databases --stale --json | jq -r '.[] | .line'", out)], question="What do you do with what the scan found?",
                accepted=acc, wrong=wrong, reason=reason, cites=cites, kind=kind, target=cites[0])


def dog_jsonl(variant: int) -> dict:
    db = pick(DATABASES)
    n = rng.randint(300, 2000)
    m = n if variant == 0 else n - rng.randint(40, 200)
    out = f"{db}: dolt rows={n}  exported lines={m}\n" + ("counts match" if variant == 0 else f"MISMATCH: {n - m} issues missing")
    return dict(formula="mol-dog-jsonl", step="verify", allowed=["push", "escalate"],
                evidence=[(f"wc -l exports/{db}/issues.jsonl && gt dolt count {db}", out)], question="Push the archive?",
                accepted=["push"] if variant == 0 else ["escalate"], wrong="escalate" if variant == 0 else "push",
                reason=(f"{db}'s export has all {n} rows." if variant == 0 else f"{db}'s export is missing {n - m} of {n} issues."),
                cites=[db], kind="clear", target=db)


def boot_decide(variant: int) -> dict:
    idle = [None, rng.randint(1, 4), rng.randint(6, 13), rng.randint(6, 13), rng.randint(17, 50), rng.randint(3, 9)][variant]
    mail = rng.randint(1, 4) if variant == 3 else 0
    if variant == 0:
        ev = [("tmux has-session -t hq-deacon; echo $?", "can't find session: hq-deacon\n1")]
        acc, reason, cites, wrong = ["START"], "The hq-deacon session does not exist.", ["hq-deacon", "dead", "no session"], "NOTHING"
    else:
        pane = ("  Error: dolt: connection refused\n" * 3 if variant == 5 else f"  (last output {idle}m ago)\n  >")
        ev = [("tmux has-session -t hq-deacon; echo $?", "0"), ("gt peek deacon/ --lines 4", pane),
              ("gt mail inbox deacon/ --json | jq length", str(mail))]
        acc = [[], ["NOTHING"], ["NOTHING"], ["NUDGE"], ["WAKE"], ["INTERRUPT"]][variant]
        wrong = [None, "WAKE", "NUDGE", "NOTHING", "NOTHING", "NOTHING"][variant]
        reason = [None, f"The deacon has been idle only {idle}m, under 5 minutes.",
                  f"The deacon is idle {idle}m with an empty inbox: let it continue.",
                  f"The deacon is idle {idle}m with {mail} unread mail.",
                  f"The deacon has been idle {idle}m, over 15 minutes.",
                  "The deacon pane repeats the same dolt connection refused error."][variant]
        cites = [[f"{idle}m", f"{idle} min"], [f"{idle}m", f"{idle} min"], [f"{idle}m", f"{mail} unread", "mail"],
                 [f"{idle}m", f"{idle} min"], ["connection refused", "error"]][variant - 1]
    return dict(formula="mol-boot-triage", step="decide", allowed=["NOTHING", "NUDGE", "WAKE", "INTERRUPT", "START"],
                evidence=ev, question="Which triage action?", accepted=acc, wrong=wrong, reason=reason, cites=cites,
                kind=["clear", "borderline", "borderline", "borderline", "clear", "clear"][variant], target="hq-deacon")


def role_cases(role: str, n: int):
    """``n`` cases for ``role`` cycling through its families and their variants."""
    plan = {
        "witness": [("survey", 6), ("cleanup", 5), ("refinery", 3), ("context", 2)],
        "deacon": [("health", 4), ("zombie", 2), ("dog", 4), ("orphans", 2), ("dolt", 3), ("convoy", 2), ("context", 2)],
        "refinery": [("tests", 4), ("rebase", 2), ("merge", 2), ("queue", 2), ("context", 2)],
        "dog": [("compactor", 4), ("reaper", 4), ("doctor", 3), ("stale", 3), ("jsonl", 2)],
        "boot": [("decide", 6)],
    }[role]
    slots = [(fam, v) for fam, k in plan for v in range(k)]
    out = []
    for i in range(n):
        fam, v = slots[i % len(slots)]
        rig, p = pick(list(RIGS)), pick(POLECATS)
        who = {"rig": rig, "dog": pick(DOGS)}
        case = {
            ("witness", "survey"): lambda: witness_survey(v, rig, p),
            ("witness", "cleanup"): lambda: witness_cleanup(v, rig, p),
            ("witness", "refinery"): lambda: witness_refinery(v, rig, p),
            ("witness", "context"): lambda: context_case(role, "mol-witness-patrol", "context-check", v),
            ("deacon", "health"): lambda: deacon_health(v),
            ("deacon", "zombie"): lambda: deacon_zombie(v),
            ("deacon", "dog"): lambda: deacon_dog_health(v),
            ("deacon", "orphans"): lambda: deacon_orphans(v),
            ("deacon", "dolt"): lambda: deacon_dolt(v),
            ("deacon", "convoy"): lambda: deacon_convoy(v),
            ("deacon", "context"): lambda: context_case(role, "mol-deacon-patrol", "context-check", v),
            ("refinery", "tests"): lambda: refinery_tests(v, rig, p),
            ("refinery", "rebase"): lambda: refinery_rebase(v, rig, p),
            ("refinery", "merge"): lambda: refinery_merge(v, rig, p),
            ("refinery", "queue"): lambda: refinery_queue(v, rig, p),
            ("refinery", "context"): lambda: context_case(role, "mol-refinery-patrol", "context-check", v),
            ("dog", "compactor"): lambda: dog_compactor(v),
            ("dog", "reaper"): lambda: dog_reaper(v),
            ("dog", "doctor"): lambda: dog_doctor(v),
            ("dog", "stale"): lambda: dog_stale_db(v),
            ("dog", "jsonl"): lambda: dog_jsonl(v),
            ("boot", "decide"): lambda: boot_decide(v),
        }[(role, fam)]()
        out.append((fam, who, case))
    return out


tasks: dict[str, list[dict]] = {"patrol_decision": [], "bead_management": [], "conventions": []}

GENERIC_REASONS = ["Everything looks normal to me.", "This is the usual call at this step.", "Based on the output above."]


def add_patrol(task_id: str, role: str, fam: str, who: dict, case: dict, k: int) -> None:
    messages, schema, wants_target = frame(k, role, who, case)
    allowed, accepted = case["allowed"], case["accepted"]
    ref = {"action": accepted[0], "reason": case["reason"]}
    if wants_target:
        ref["target"] = case["target"]
    assert any(c.lower() in case["reason"].lower() for c in case["cites"]), (task_id, case["reason"], case["cites"])
    assert case["wrong"] in allowed and case["wrong"] not in accepted, task_id
    args = {"allowed_actions": allowed, "accepted_actions": accepted, "reason_mentions": case["cites"]}
    if wants_target:
        args["schema"] = schema
    negatives = [json.dumps({"action": case["wrong"], "reason": case["reason"]}),
                 json.dumps({"action": accepted[0], "reason": pick(GENERIC_REASONS)}),
                 json.dumps({"action": "investigate-later", "reason": case["reason"]}),
                 f"I would {accepted[0]} here, since {case['reason'][0].lower()}{case['reason'][1:]}",
                 json.dumps({"action": accepted[0]})]
    tasks["patrol_decision"].append({
        "task_id": task_id, "category": "patrol-decision", "role": role, "messages": messages,
        "checker": "patrol_decision", "checker_args": args, "json_schema": schema, "reference": json.dumps(ref),
        "negatives": negatives, "tags": ["patrol", f"{case['formula']}:{case['step']}", case["kind"], f"framing-{k}", fam]})


PER_ROLE = {"witness": 34, "deacon": 36, "refinery": 32, "dog": 32, "boot": 12}
for role, n in PER_ROLE.items():
    for i, (fam, who, case) in enumerate(role_cases(role, n)):
        add_patrol(f"v2-{role}-{i + 1:03d}", role, fam, who, case, (i + len(role)) % 4)


# ------------------------------------------------------------------------- command cases

CMD_CARDS = {
    "mayor": "You are the Mayor of a town with the rigs ironbark (bead prefix ib-), saltmarsh (sm-) and lanternworks (lw-). "
             "You file and organise beads and hand work to rigs.",
    "polecat": "You are the polecat {p} of the ironbark rig (ironbark/polecats/{p}); your worktree is "
               "/srv/town/ironbark/polecats/{p} and your hooked bead is ib-q7d3.",
    "witness": "You are the Witness of the saltmarsh rig (saltmarsh/witness).",
    "refinery": "You are the Refinery of the lanternworks rig (lanternworks/refinery).",
    "crew": "You are juno-crew, a crew member of the ironbark rig (ironbark/crew/juno) with a clone on main.",
    "deacon": "You are the town's Deacon (deacon/).",
}
BASH_ASKS = ["Give the commands in one ```bash fenced block.", "Answer with the exact command(s) only, inside a ```bash block.",
             "Only shell commands, one ```bash block, no explanation."]


def fence(cmds: str) -> str:
    return "```bash\n" + cmds.strip() + "\n```"


def add_cmd(file: str, task_id: str, role: str, ask: str, args: dict, reference: str, negatives, tags, k: int) -> None:
    p = "ferrule"
    card = CMD_CARDS[role].format(p=p)
    bash = BASH_ASKS[k % len(BASH_ASKS)]
    if k % 2 == 0:
        messages = [{"role": "system", "content": f"{card} Use bd for beads and gt for town coordination. {bash}"},
                    {"role": "user", "content": ask}]
    else:
        messages = [{"role": "user", "content": f"{card}\n\nRequest: {ask}\n\n{bash}"}]
    cat = "bead-management" if file == "bead_management" else "conventions"
    tasks[file].append({"task_id": task_id, "category": cat, "role": role, "messages": messages, "checker": "commands",
                        "checker_args": args, "json_schema": None, "reference": fence(reference),
                        "negatives": [fence(n) for n in negatives], "tags": ["command", *tags]})


def create_case(title, typ, prio, labels=(), parent=None):
    flags = {"type": typ, "priority": str(prio)}
    cmd = f'bd create "{title}" -t {typ} -p {prio}'
    if labels:
        flags["labels"] = list(labels)
        cmd += " -l " + ",".join(labels)
    if parent:
        flags["parent"] = parent
        cmd += f" --parent {parent}"
    return {"expect": [{"cmd": "bd create", "flags": flags}]}, cmd


BD = "bead_management"
n_cmd = 0


def next_id(prefix: str = "v2-cmd") -> str:
    global n_cmd
    n_cmd += 1
    return f"{prefix}-{n_cmd:03d}"


CREATES = [
    ("mayor", "Open a P1 bug in ironbark: the ledger rollover drops the last partial day. Label it ledger and data-loss.",
     "Ledger rollover drops the last partial day", "bug", 1, ("ledger", "data-loss"), None),
    ("mayor", "saltmarsh needs a feature bead, priority 2: export quota windows as CSV. Tag it quota.",
     "Export quota windows as CSV", "feature", 2, ("quota",), None),
    ("polecat", "You noticed the route table merge has no benchmarks. File a chore at priority 3 labelled perf.",
     "Add route table merge benchmarks", "chore", 3, ("perf",), None),
    ("mayor", "Create the epic 'Quota rework' for saltmarsh with priority 1.", "Quota rework", "epic", 1, (), None),
    ("crew", "Record a decision bead, P2, titled 'Keep WAL frames at 4 KiB', labelled storage.",
     "Keep WAL frames at 4 KiB", "decision", 2, ("storage",), None),
    ("mayor", "Under the existing epic lw-e8k1 add a task 'Rewrite canonical query encoder' at P2.",
     "Rewrite canonical query encoder", "task", 2, (), "lw-e8k1"),
    ("witness", "File a P0 bug: manifest digests ignore symlinks and releases ship wrong hashes. Labels: release, security.",
     "Manifest digests ignore symlinks", "bug", 0, ("release", "security"), None),
    ("mayor", "Add a spike under epic ib-r2m5: evaluate sharding the ledger by tenant, priority 3, label research.",
     "Evaluate sharding the ledger by tenant", "spike", 3, ("research",), "ib-r2m5"),
]
for role, ask, title, typ, prio, labels, parent in CREATES:
    args, cmd = create_case(title, typ, prio, labels, parent)
    bad_type = {"bug": "defect", "feature": "enhancements", "chore": "housekeeping", "epic": "initiative",
                "decision": "adr-note", "task": "todo", "spike": "research-spike"}[typ]
    negs = [cmd.replace(f"-t {typ}", f"-t {bad_type}"), cmd.replace(f"-p {prio}", "-p 9")]
    if labels:
        negs.append(cmd.split(" -l ")[0] + (f" --parent {parent}" if parent else ""))
    if parent:
        negs.append(cmd.replace(f" --parent {parent}", ""))
    add_cmd(BD, next_id(), role, ask, args, cmd, negs, ["create"] + (["parent"] if parent else []), n_cmd)

CLOSES = [("polecat", "ib-q7d3", "Your fix for ib-q7d3 merged as commit 4e1f0aa. Close the bead with a reason.", "Fixed in 4e1f0aa"),
          ("witness", "sm-h4c9", "sm-h4c9 turned out to be a duplicate of sm-h4c2. Close it and say so.", "Duplicate of sm-h4c2"),
          ("mayor", "lw-t0b6", "Close lw-t0b6: the team decided not to support IPv4-only peers. Record the reason.", "Won't do: IPv4-only peers unsupported"),
          ("crew", "ib-w5n8", "ib-w5n8 is done (docs published). Close it with a short reason.", "Docs published")]
for role, bid, ask, reason in CLOSES:
    args = {"expect": [{"cmd": "bd close", "args": [bid], "flags": {"reason": "*"}}]}
    add_cmd(BD, next_id(), role, ask, args, f'bd close {bid} --reason "{reason}"',
            [f"bd close {bid}", f"bd update {bid} --status finished", f'bd close {bid} --why "{reason}"'], ["close"], n_cmd)

DEPS = [("mayor", "sm-k2p8", "sm-a6v1", "The CSV export sm-k2p8 can only start once the quota schema change sm-a6v1 lands. Record it."),
        ("mayor", "ib-c3x7", "ib-n9f4", "ib-n9f4 (ledger migration) blocks ib-c3x7 (tenant sharding). Add the dependency."),
        ("refinery", "lw-m1q5", "lw-z8d2", "Merge request lw-m1q5 has to wait for lw-z8d2 to merge first. Put that in beads."),
        ("crew", "ib-y4g6", "ib-d7s3", "Make ib-y4g6 depend on ib-d7s3.")]
for role, blocked, blocker, ask in DEPS:
    args = {"dep": {"blocked": blocked, "blocker": blocker}}
    add_cmd(BD, next_id(), role, ask, args, f"bd dep add {blocked} {blocker}",
            [f"bd dep add {blocker} {blocked}", f"bd dep add {blocked}", f"bd dep {blocked} --blocks {blocker}"], ["deps"], n_cmd)

STATUS = [("polecat", "ib-q7d3", "Start working on ib-q7d3 and mark it in progress.", "in_progress"),
          ("witness", "sm-u3r0", "sm-u3r0 cannot move until the vendor answers. Set its status to blocked.", "blocked"),
          ("mayor", "lw-p5j2", "Put lw-p5j2 back to open; nobody is on it any more.", "open"),
          ("crew", "ib-g1e9", "Mark ib-g1e9 as deferred.", "deferred")]
for role, bid, ask, status in STATUS:
    args = {"expect": [{"cmd": "bd update", "args": [bid], "flags": {"status": status}}]}
    if status == "in_progress":
        args = {"expect": [{"any_of": [args["expect"][0], {"cmd": "bd update", "args": [bid], "flags": {"claim": True}}]}]}
    bad = {"in_progress": "started", "blocked": "waiting", "open": "todo", "deferred": "later"}[status]
    add_cmd(BD, next_id(), role, ask, args, f"bd update {bid} --status {status}",
            [f"bd update {bid} --status {bad}", f"bd update {bid} --state {status}"], ["status"], n_cmd)

EPICS = [("mayor", "Ledger hardening", ["Guard partial-day rollover", "Backfill missing days"], "ib"),
         ("mayor", "Route cleanup", ["Drop legacy wildcard syntax", "Route table fuzz tests", "Document route precedence"], "lw"),
         ("mayor", "Quota audit", ["Audit window boundaries", "Alert on early resets"], "sm")]
for role, epic, kids, pre in EPICS:
    parent = f"{pre}-ep{len(kids)}x"
    ask = (f"The epic '{epic}' exists as {parent}. Create its child tasks: " + "; ".join(f"'{k}'" for k in kids) + ".")
    args = {"expect": [{"cmd": "bd create", "flags": {"parent": parent}, "text_regex": k.split()[0] + r"\b.*" + k.split()[-1]} for k in kids]}
    ref = "\n".join(f'bd create "{k}" -t task --parent {parent}' for k in kids)
    add_cmd(BD, next_id(), role, ask, args, ref,
            ["\n".join(f'bd create "{k}" -t task' for k in kids),
             "\n".join(f'bd create "{k}" -t subtask --parent {parent}' for k in kids),
             f'bd create "{kids[0]}" -t task --parent {parent}'], ["epic", "parent"], n_cmd)
args = {"expect": [{"cmd": "bd create", "flags": {"type": "epic"}, "text_regex": "tenant isolation"}]}
add_cmd(BD, next_id(), "mayor", "Create an epic 'Tenant isolation' at P1 for ironbark.", args, 'bd create "Tenant isolation" -t epic -p 1',
        ['bd create "Tenant isolation" -t epics -p 1', 'bd create "Tenant isolation" --kind epic -p 1'], ["epic", "create"], n_cmd)
args = {"expect": [{"any_of": [{"cmd": "bd update", "args": ["sm-f2w8"], "flags": {"add-label": ["flaky"]}},
                               {"cmd": "bd label add", "args": ["sm-f2w8", "flaky"]}]}],
        "forbid": [{"cmd": "bd update", "flags": {"set-labels": "*"}}]}
add_cmd(BD, next_id(), "witness", "Add the label flaky to sm-f2w8, keeping its other labels.", args, "bd label add sm-f2w8 flaky",
        ["bd update sm-f2w8 --set-labels flaky", "bd update sm-f2w8 --labels flaky"], ["labels"], n_cmd)
args = {"expect": [{"cmd": "bd create", "flags": {"type": "bug", "deps": ["discovered-from:ib-q7d3"]}}]}
add_cmd(BD, next_id(), "polecat", "While on ib-q7d3 you found that WAL replay skips the last frame. File a P2 bug for it linked as discovered from ib-q7d3, in one command.",
        args, 'bd create "WAL replay skips the last frame" -t bug -p 2 --deps discovered-from:ib-q7d3',
        ['bd create "WAL replay skips the last frame" -t bug -p 2 --discovered-from ib-q7d3',
         'bd create "WAL replay skips the last frame" -t bug -p 2'], ["create", "deps"], n_cmd)

GT = "conventions"
SLINGS = [("mayor", "ib-x5t1", "ironbark", "Hand ib-x5t1 to the ironbark rig so a polecat takes it."),
          ("mayor", "sm-b8o2", "saltmarsh", "Dispatch bead sm-b8o2 to saltmarsh."),
          ("mayor", "lw-r6e4", "lanternworks", "lw-r6e4 is ready; sling it to the lanternworks rig.")]
for role, bid, rig, ask in SLINGS:
    args = {"expect": [{"cmd": "gt sling", "args": [bid, rig]}]}
    add_cmd(GT, next_id(), role, ask, args, f"gt sling {bid} {rig}",
            [f"tmux new-session -d -s {RIGS[rig]}-worker 'claude {bid}'", f"gt sling {bid} {rig} --merge squash", f"gt sling --bead {bid}"],
            ["sling"], n_cmd)
MAILS = [("polecat", "ironbark/witness", "BLOCKED: protoc too old", "Tell your witness that the ironbark build needs a newer protoc; subject it BLOCKED."),
         ("witness", "deacon/", "RECOVERY_NEEDED saltmarsh/tansy", "Send the Deacon a RECOVERY_NEEDED mail about saltmarsh/tansy whose branch cannot be pushed."),
         ("refinery", "lanternworks/polecats/orrery", "MR lw-m1q5 failed", "Mail polecat orrery that its MR lw-m1q5 failed TestRouteTableMerge."),
         ("crew", "mayor/", "Second polecat for the ledger epic?", "Mail the Mayor to ask for a second polecat on the ledger epic.")]
for role, addr, subj, ask in MAILS:
    args = {"expect": [{"cmd": "gt mail send", "args": [addr], "flags": {"subject": "*", "message": "*"}}]}
    ref = f'gt mail send {addr} -s "{subj}" -m "{ask}"'
    add_cmd(GT, next_id(), role, ask, args, ref,
            [f'echo "{ask}" | mail -s note {addr.strip("/").replace("/", ".")}', f"gt mail send {addr}",
             f'gt mail send {addr} --title "{subj}" -m "x"'], ["mail"], n_cmd)
NUDGES = [("witness", "saltmarsh/polecats/tansy", "tansy has been sitting at its prompt for 50 minutes with sm-h4c9 hooked. Nudge it."),
          ("deacon", "ironbark/witness", "The ironbark witness missed two pings. Give it a nudge to run its patrol."),
          ("witness", "saltmarsh/polecats/sorrel", "Ask sorrel how its work on sm-u3r0 is going, without interrupting it (queue the nudge).")]
for role, target, ask in NUDGES:
    args = {"expect": [{"cmd": "gt nudge", "args": [target]}]}
    ref = f'gt nudge {target} "Status check: please continue your hooked work and report back"'
    if "queue" in ask:
        args["expect"][0]["flags"] = {"mode": "queue"}
        ref = f'gt nudge --mode=queue {target} "How is sm-u3r0 going? Need help?"'
    sess = target.replace("/polecats/", "-").replace("/", "-")
    add_cmd(GT, next_id(), role, ask, args, ref,
            [f'tmux send-keys -t {sess} "continue" Enter', f"gt nudge {target} --mode=shout \"hi\"", "gt nudge"], ["nudge"], n_cmd)
ESCS = [("witness", "high", "Polecat saltmarsh/wickerby lost its worktree and sm-k2p8's work may be gone. Escalate at high severity."),
        ("deacon", "critical", "The Dolt server keeps dying with no space left on device. Raise a critical escalation."),
        ("refinery", "medium", "Main of lanternworks has been red for 3 merges in a row. Escalate it, severity medium.")]
for role, sev, ask in ESCS:
    args = {"expect": [{"cmd": "gt escalate", "flags": {"severity": sev}}]}
    topic = ask.split(".")[0]
    add_cmd(GT, next_id(), role, ask, args, f'gt escalate "{topic}" -s {sev} -m "{ask}"',
            [f'gt escalate "{topic}" -s urgent', f'gt escalate "{topic}" --level {sev}', f'echo "{topic}" | mail -s ESCALATION mayor'],
            ["escalate"], n_cmd)
DONES = [("polecat", "Your work on ib-q7d3 is committed and pushed. Finish the assignment the Gas Town way.", {}, "gt done"),
         ("polecat", "You are stuck on ib-q7d3 (the vendor API is down) and need to give it back as escalated. End your session correctly.",
          {"status": "ESCALATED"}, None),
         ("polecat", "ib-q7d3 has to wait until next week; finish this session marking the work deferred.",
          {"status": "DEFERRED"}, None)]
for role, ask, flags, ref in DONES:
    ref = ref or "gt done --status " + flags["status"]
    m = {"cmd": "gt done"}
    if flags:
        m["flags"] = flags
    args = {"expect": [m], "forbid": [{"cmd": "gt handoff"}]}
    add_cmd(GT, next_id(), role, ask, args, ref,
            ["gt done --status FINISHED", "gt handoff -s done", "exit 0"] if not flags else
            [f"gt done --status {flags['status'].lower()}x", "gt done --status COMPLETE", "gt unsling ib-q7d3"], ["done"], n_cmd)


# conventions from v1, copied with new ids (v1 stays frozen)
def copy_v1_conventions() -> None:
    for line in (V1 / "conventions.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["task_id"] = "v2-" + rec["task_id"]
        rec["tags"] = list(rec.get("tags", [])) + ["from-v1"]
        tasks["conventions"].append(rec)


copy_v1_conventions()


def write(out_dir: Path = OUT) -> dict[str, int]:
    """Write one JSONL file per category into ``out_dir``; returns task counts per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tasks.items():
        with open(out_dir / f"{name}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return {name: len(rows) for name, rows in tasks.items()}


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
