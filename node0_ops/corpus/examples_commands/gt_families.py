"""``gt`` command families: sling, convoy, mail, nudge, escalate, done, handoff.

Same builder contract as :mod:`.bd_families`. Syntax: gastown docs/reference.md (``gt sling
<bead> <rig>``, ``gt convoy create "name" <ids...>``, ``gt mail send <addr> -s ... -m ...`` /
``--human``, ``gt nudge <target> "msg"``, ``gt escalate -s SEVERITY "topic" -m ...``, ``gt handoff
-s ... -m ...``) and internal/templates/commands/bodies/done.md (``gt done``, ``--status
ESCALATED|DEFERRED``, ``bd close --reason "no-changes: ..."`` then ``gt done``); the report-only
``gt done --cleanup-status clean`` is from polecat.md.tmpl. Addresses: formats doc §3.1
(``<rig>/witness``, ``<rig>/polecats/<name>``, ``<rig>/crew/<name>``, ``mayor/``).
"""

import random

from node0_ops.corpus.examples_commands.draft import Draft
from node0_ops.corpus.examples_commands.phrasing import SEVERITY_WORDS, q, ref, severity, short
from node0_ops.corpus.examples_commands.town import Bead, Town

# Used only when a rig has no worker names in the records.
FALLBACK_POLECATS = ("quill", "ember", "sable", "tinder", "rook", "wren")
FALLBACK_CREW = ("ada", "milo", "juno")
HELP_PROBLEMS = ("the tests hang on CI", "the build breaks after rebasing on main",
                 "I need a decision on which approach to take", "a required file is missing from the repo")
ESCALATE_DETAIL = {
    "witness": ("The polecat has been stuck for over an hour and nudges did not help.",
                "Two polecats failed on it in a row."),
    "refinery": ("The merge keeps failing the gate after rebase.", "The MR conflicts with main and the polecat is gone."),
    "polecat": ("I cannot finish without a design decision.", "The blocker is outside this rig."),
    "crew": ("This needs someone with access I do not have.",),
}
DONE_LEADS = {
    "completed": "gt done pushes the branch, submits it to the merge queue and ends the session.",
    "escalated": "ESCALATED signals the blocker and skips the merge request.",
    "deferred": "DEFERRED pauses the work and skips the merge request.",
    "nochanges": "Nothing to merge: close the bead as no-changes, then gt done.",
    "report": "No code changes, so gt done with a clean cleanup status.",
}
TEMPLATES = {
    "sling": ('{ref} is ready. Sling it to {rig}.', 'Hand {ref} to a polecat in {rig}.',
              'Dispatch {ref} to the {rig} rig.', 'How do I get {ref} worked on in {rig}?',
              'sling {ref} -> {rig}'),
    "sling_named": ('Give {ref} to {rig}/{name} specifically.', 'Sling {ref} to the polecat {name} in {rig}.'),
    "convoy": ('Start a convoy named "{name}" tracking {ids}.', 'Track {ids} together in a convoy called "{name}".',
               'convoy "{name}": {ids}'),
    "convoy_notify": ('Create a convoy "{name}" for {ids} and have the mayor notified when it lands.',),
    "mail_help": ('You are stuck on {ref}: {problem}. Ask your witness for help by mail.',
                  'Mail the {rig} witness for help with {ref}; the problem is that {problem}.'),
    "mail_assign": ('Mail {addr} that {ref} is theirs now. Subject "{subject}".',
                    'Send {addr} a mail with subject "{subject}" telling them to pick up {ref}.'),
    "mail_report": ('Send the mayor a note that {ref} is done.', 'Let the mayor know by mail that {ref} is finished.'),
    "mail_human": ('Tell the human overseer by mail that {ref} needs a decision.',
                   'Mail the overseer: {ref} is waiting on their call.'),
    "nudge_polecat": ('{addr} has gone quiet on {ref}. Nudge them to check their hook.',
                      'Poke {addr} about {ref}; they have been idle a while.',
                      'nudge {addr} re {ref}'),
    "nudge_crew": ('Tell {addr} to read their mail about {ref} (nudge, not mail).',
                   'Give {addr} a quick nudge: there is mail about {ref}.'),
    "nudge_refinery": ('The MR for {ref} is waiting. Nudge the {rig} refinery.',
                       'Wake the {rig} refinery: {ref} is ready to merge.'),
    "escalate": ('{ref} is blocked and you cannot resolve it. Escalate it as {sev}.',
                 'Raise {sev} for {ref}: {detail}', 'escalate {ref} ({sev})',
                 'Who should hear about {ref}? Escalate it, {sev}.'),
    "done_completed": ('Your work on {ref} is committed and pushed. Finish up.',
                       'All tests pass for {ref} and the branch is pushed. Submit it.', 'done with {ref}, wrap up'),
    "done_escalated": ('You cannot finish {ref}: {problem}. Signal the blocker and stop.',),
    "done_deferred": ('Pause {ref} for now without submitting a merge request.',),
    "done_nochanges": ('{ref} turns out to be fixed already on main. Close it as no-changes and finish.',),
    "done_report": ('{ref} was an audit; the findings are in the bead notes and there is no code. Wrap up.',),
    "handoff": ('Your context is nearly full midway through {ref}. Hand off to a fresh session with a note.',
                'Cycle your session: leave a handoff note that {ref} is half done.'),
}


def _draft(family, variant, role, rig, request, context, commands, beads: list[Bead], **kw) -> Draft:
    return Draft(family=family, variant=variant, role=role, rig=rig, request=request, context=context,
                 commands=commands, beads=[b.id for b in beads], record_ids=[b.record_id for b in beads],
                 source_key=beads[0].source_key, **kw)


def _polecat(bead: Bead, town: Town, rig: str, rng: random.Random) -> str:
    w = town.worker(bead)
    if w and w[0] == "polecats":
        return w[1]
    return rng.choice(town.polecats.get(rig) or FALLBACK_POLECATS)


def _crew(bead: Bead, town: Town, rig: str, rng: random.Random) -> str:
    w = town.worker(bead)
    if w and w[0] == "crew":
        return w[1]
    return rng.choice(town.crew.get(rig) or FALLBACK_CREW)


def build_sling(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    rig = town.rig_of(bead)
    if not rig:
        return None
    phrase, note = ref(bead, rng)
    if rng.random() < 0.3:
        name = _polecat(bead, town, rig, rng)
        request = rng.choice(TEMPLATES["sling_named"]).format(ref=phrase, rig=rig, name=name)
        target, variant = f"{rig}/{name}", "polecat"
    else:
        request, target, variant = rng.choice(TEMPLATES["sling"]).format(ref=phrase, rig=rig), rig, "rig"
    return _draft("sling", variant, "mayor", rig, request, note, [f"gt sling {bead.id} {target}"], [bead],
                  lead="gt sling hooks the bead on a polecat and starts it.")


def build_convoy(epic: Bead, kids: list[Bead], town: Town, rng: random.Random) -> Draft | None:
    kids = kids[:6]
    if len(kids) < 2:
        return None
    ids = " ".join(k.id for k in kids)
    name = short(epic.title, 60)
    notify = rng.random() < 0.25
    key = "convoy_notify" if notify else "convoy"
    request = rng.choice(TEMPLATES[key]).format(name=name, ids=", ".join(k.id for k in kids))
    cmd = f"gt convoy create {q(name)} {ids}" + (" --notify mayor/" if notify else "")
    return _draft("convoy", "notify" if notify else "plain", "mayor", town.rig_of(epic), request, "", [cmd],
                  [epic] + kids)


def build_mail(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    rig = town.rig_of(bead)
    phrase, note = ref(bead, rng)
    title = bead.title if len(bead.title) <= 80 else bead.id
    w = town.worker(bead)
    options = ["human"] + (["report", "assign"] if rig else []) + (["help"] if rig and w and w[0] == "polecats" else [])
    kind = rng.choice(options)
    if kind == "help":
        problem = rng.choice(HELP_PROBLEMS)
        request = rng.choice(TEMPLATES["mail_help"]).format(ref=phrase, problem=problem, rig=rig)
        cmd = f'gt mail send {rig}/witness -s {q("HELP: " + bead.id)} -m {q(f"Issue: {bead.id}. Problem: {problem}.")}'
        role = "polecat"
    elif kind == "assign":
        addr = f"{rig}/crew/{_crew(bead, town, rig, rng)}"
        subject = f"{bead.id}: {title}"
        request = rng.choice(TEMPLATES["mail_assign"]).format(addr=addr, ref=phrase, subject=subject)
        cmd = f'gt mail send {addr} -s {q(subject)} -m {q(f"{bead.id} is yours; claim it and start when ready.")}'
        role = "mayor"
    elif kind == "report":
        request = rng.choice(TEMPLATES["mail_report"]).format(ref=phrase)
        cmd = f'gt mail send mayor/ -s {q("Done: " + bead.id)} -m {q(f"{title} is finished.")}'
        role = "crew"
    else:
        request = rng.choice(TEMPLATES["mail_human"]).format(ref=phrase)
        cmd = f'gt mail send --human -s {q("Decision needed: " + bead.id)} -m {q(title)}'
        role = rng.choice(["mayor", "crew"])
    return _draft("mail", kind, role, rig, request, note, [cmd], [bead], lead="Mail persists, so it survives a restart.")


def build_nudge(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    rig = town.rig_of(bead)
    if not rig:
        return None
    phrase, note = ref(bead, rng)
    kind = rng.choice(["polecat", "polecat", "crew", "refinery"])
    if kind == "polecat":
        addr = f"{rig}/polecats/{_polecat(bead, town, rig, rng)}"
        request = rng.choice(TEMPLATES["nudge_polecat"]).format(addr=addr, ref=phrase)
        cmd, role = f'gt nudge {addr} {q(f"Still on {bead.id}? Check your hook and keep going.")}', "witness"
    elif kind == "crew":
        addr = f"{rig}/crew/{_crew(bead, town, rig, rng)}"
        request = rng.choice(TEMPLATES["nudge_crew"]).format(addr=addr, ref=phrase)
        cmd, role = f'gt nudge {addr} {q(f"Check your mail about {bead.id}.")}', "mayor"
    else:
        request = rng.choice(TEMPLATES["nudge_refinery"]).format(ref=phrase, rig=rig)
        cmd, role = f'gt nudge {rig}/refinery {q(f"MR for {bead.id} is ready to merge.")}', "witness"
    return _draft("nudge", kind, role, rig, request, note, [cmd], [bead],
                  lead="gt nudge delivers into the session reliably; never tmux send-keys.")


def build_escalate(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    rig = town.rig_of(bead)
    role = rng.choice(["witness", "refinery", "polecat", "crew"] if rig else ["crew"])
    sev = severity(bead.priority)
    detail = rng.choice(ESCALATE_DETAIL[role])
    phrase, note = ref(bead, rng)
    request = rng.choice(TEMPLATES["escalate"]).format(ref=phrase, sev=rng.choice(SEVERITY_WORDS[sev]), detail=detail)
    topic = f"{bead.id} blocked: {bead.title}" if len(bead.title) <= 60 else f"{bead.id} blocked"
    cmd = f"gt escalate -s {sev} {q(topic)} -m {q(detail)}"
    return _draft("escalate", sev.lower(), role, rig, request, note, [cmd], [bead],
                  lead=f"Severity {sev} matches P{bead.priority}.")


def build_done(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    rig = town.rig_of(bead)
    if not rig:
        return None
    phrase, note = ref(bead, rng)
    kind = rng.choice(["completed", "completed", "escalated", "deferred", "nochanges", "report"])
    problem = rng.choice(HELP_PROBLEMS)
    request = rng.choice(TEMPLATES[f"done_{kind}"]).format(ref=phrase, problem=problem)
    cmds = {"completed": ["gt done"], "escalated": ["gt done --status ESCALATED"],
            "deferred": ["gt done --status DEFERRED"], "report": ["gt done --cleanup-status clean"],
            "nochanges": [f'bd close {bead.id} --reason {q("no-changes: already fixed on main")}', "gt done"]}[kind]
    draft = _draft("done", kind, "polecat", rig, request, note, cmds, [bead], lead=DONE_LEADS[kind])
    draft.extra["polecat"] = _polecat(bead, town, rig, rng)
    return draft


def build_handoff(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    rig = town.rig_of(bead)
    phrase, note = ref(bead, rng)
    request = rng.choice(TEMPLATES["handoff"]).format(ref=phrase)
    cmd = f'gt handoff -s {q("Handoff: " + bead.id)} -m {q(f"Half done on {bead.id}; continue from the last commit.")}'
    role = rng.choice(["crew", "polecat"] if rig else ["mayor"])
    return _draft("handoff", "note", role, rig, request, note, [cmd], [bead])
