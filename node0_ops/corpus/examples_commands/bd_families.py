"""``bd`` command families: create, close, status, priority, label, reopen, dep, epic.

Each builder takes the source (a :class:`Bead`, a dependency edge or an epic with its children),
the :class:`Town` and a seeded ``random.Random`` and returns a :class:`Draft` or None when the
source cannot give a correct task. Syntax: beads docs/CLI_REFERENCE.md (``bd create -t/-p/-l/-d/
--parent/--silent``, ``bd close --reason``, ``bd update --status/--claim/-p``, ``bd label add``,
``bd reopen --reason``, ``bd dep add <issue> <depends-on>`` = issue is blocked by depends-on).
"""

import random

from node0_ops.corpus.examples_beads import CREATE_TYPES, GENERIC_CLOSE, clean_description
from node0_ops.corpus.examples_commands.draft import Draft
from node0_ops.corpus.examples_commands.phrasing import PRIORITY_WORDS, TYPE_WORDS, first_sentence, q, ref
from node0_ops.corpus.examples_commands.town import Bead, Town
from node0_ops.corpus.examples_common import actor_role

MAX_CHILDREN = 6
REOPEN_WHY = ("the fix regressed on main", "the reporter still sees the problem on the latest build",
              "the acceptance check still fails", "the change was reverted after the release")
TEMPLATES = {
    "create": (
        'File {a_type} called "{title}" at {prio}.{extra}',
        'What command creates a {type} named "{title}" with {prio}?{extra}',
        'new {type}: "{title}", {prio}.{extra}',
        '{ctx} Open a {type} for it titled "{title}", {prio}.{extra}',
        'Please add {a_prio} {type} to beads: "{title}".{extra}',
    ),
    "close": (
        'Close {ref} with the reason "{reason}".',
        '{ref} is finished. Close it out; reason: {reason}',
        'close {ref}, reason "{reason}"',
        'How do I close {ref} and record why? The reason is "{reason}".',
        'The work has merged. Mark {ref} closed with reason "{reason}".',
    ),
    "status": {
        "in_progress": ('Mark {ref} as in progress.', "I'm starting on {ref} now; set its status to match.",
                        'status of {ref} -> in_progress'),
        "claim": ('Claim {ref} for yourself before you start.', 'Take {ref}: assign it to you and start it in one step.'),
        "blocked": ('{ref} is stuck on something outside our control. Flag it as blocked.',
                    'set {ref} to blocked'),
        "deferred": ('Park {ref} for later: its status should be deferred.', 'defer {ref} (status deferred)'),
        "open": ('Put {ref} back to open so someone else can pick it up.', 'Reset the status of {ref} to open.'),
    },
    "priority": ('Set {ref} to {prio}.', 'Re-prioritize {ref}: it is {prio} now.', 'priority of {ref} -> {prio}',
                 'Can you change {ref} to {prio}?'),
    "label": ('Add the label {label} to {ref}.', 'tag {ref} with {label}', 'Can you label {ref} as {label}?'),
    "reopen": ('{ref} was closed too early: {why}. Reopen it and say why.',
               'Reopen {ref}, reason "{why}".', 'reopen {ref} ({why})'),
    "dep_blocks": (
        '{a} cannot start until {b} is done. Record that dependency.',
        '{b} blocks {a}. Wire that up in beads.',
        '{a} depends on {b}; add the dependency.',
        'Make {a} wait for {b}.',
        'How do I tell bd that {a} is blocked by {b}?',
        '{b} has to land first, then {a}. Add the blocking dependency.',
        'dep: {a} needs {b}',
    ),
    "dep_discovered-from": ('{a} turned up while working on {b}. Link it as discovered-from.',
                            'Record that {a} was discovered from {b}.'),
    "dep_related": ('Link {a} and {b} as related, without blocking either.', '{a} is related to {b}; record the link.'),
    "epic": ('Break epic {epic} into these children:\n{items}', 'Add child beads under {epic}:\n{items}',
             'Under epic {epic}, file the following:\n{items}'),
    "epic_new": ('Create an epic "{title}" at {prio} and put these children under it:\n{items}',
                 'Start a new epic, "{title}" at {prio}, with child beads:\n{items}'),
}
CREATE_CONTEXT = {
    "bug": ("We just hit this on main.", "A polecat reported this failure in its last run."),
    "feature": ("The overseer wants this for the next milestone.",),
    "default": ("This came up in review.", "Please track this in beads."),
}


def _a(phrase: str) -> str:
    """``phrase`` with its indefinite article (``an epic``, ``a P1``)."""
    return ("an " if phrase[:1].lower() in "aeio" else "a ") + phrase


def _role(actor: str, default: str, not_polecat: str | None = None) -> tuple[str, str | None]:
    role, rig = actor_role(actor)
    if role == "polecat" and not_polecat:
        role = not_polecat
    return (role, rig) if role else (default, None)


def _draft(family, variant, role, rig, request, context, commands, beads: list[Bead], **kw) -> Draft:
    return Draft(family=family, variant=variant, role=role, rig=rig, request=request, context=context,
                 commands=commands, beads=[b.id for b in beads], record_ids=[b.record_id for b in beads],
                 source_key=beads[0].source_key, **kw)


def create_line(title: str, itype: str, prio: int, labels=(), parent: str | None = None, desc: str = "",
                silent: bool = False) -> str:
    """``bd create "<title>" -t <type> -p <n> [-l a,b] [--parent X] [-d "..."] [--silent]``."""
    parts = ["bd", "create", q(title), "-t", itype, "-p", str(prio)]
    if labels:
        parts += ["-l", q(",".join(labels))]
    if parent:
        parts += ["--parent", parent if parent.startswith('"$') else q(parent)]
    if desc:
        parts += ["-d", q(desc)]
    if silent:
        parts.append("--silent")
    return " ".join(parts)


def build_create(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    if bead.itype not in CREATE_TYPES:
        return None
    parent = bead.parent if bead.parent in town.beads else None
    desc = first_sentence(clean_description({"description": bead.description}))
    desc = desc if desc and '"' not in desc and rng.random() < 0.4 else ""
    labels = list(bead.labels[:3])
    extra = []
    if labels:
        extra.append(rng.choice([" Labels: {}.", " Tag it {}."]).format(", ".join(labels)))
    if parent:
        extra.append(rng.choice([" It belongs under epic {}.", " Make it a child of {}."]).format(parent))
    if desc:
        extra.append(f' Description: "{desc}"')
    tpl = rng.choice(TEMPLATES["create"])
    ctx = rng.choice(CREATE_CONTEXT.get(bead.itype, CREATE_CONTEXT["default"]))
    tword, pword = rng.choice(TYPE_WORDS[bead.itype]), rng.choice(PRIORITY_WORDS[bead.priority])
    request = tpl.format(type=tword, a_type=_a(tword), title=bead.title, prio=pword, a_prio=_a(pword),
                         extra="".join(extra), ctx=ctx)
    role, rig = _role(bead.created_by, "mayor" if bead.itype in ("epic", "feature") else "crew", not_polecat="crew")
    cmd = create_line(bead.title, bead.itype, bead.priority, labels, parent, desc)
    return _draft("create", bead.itype, role, rig or town.rig_of(bead), request.strip(), "", [cmd], [bead],
                  lead=f"One bd create with the type, priority{', labels' if labels else ''}"
                       f"{' and parent' if parent else ''} as flags.", parent=parent)


def build_close(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    reason = first_sentence(bead.close_reason, 160).rstrip(".")
    if bead.status != "closed" or len(reason) < 12 or GENERIC_CLOSE.search(reason) or '"' in reason:
        return None
    phrase, note = ref(bead, rng)
    request = rng.choice(TEMPLATES["close"]).format(ref=phrase, reason=reason)
    role, rig = _role(bead.assignee, "", not_polecat="refinery")
    if not role:
        role, rig = _role(bead.created_by, "crew", not_polecat="crew")
    return _draft("close", "reason", role, rig or town.rig_of(bead), request, note,
                  [f"bd close {bead.id} --reason {q(reason)}"], [bead], lead="Closing it with the reason recorded.")


def build_status(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    role, rig = _role(bead.assignee, "crew")
    target = rng.choice([s for s in ("in_progress", "claim", "blocked", "deferred", "open")
                         if s != bead.status and (s != "claim" or role in ("crew", "mayor"))])
    phrase, note = ref(bead, rng)
    request = rng.choice(TEMPLATES["status"][target]).format(ref=phrase)
    cmd = f"bd update {bead.id} --claim" if target == "claim" else f"bd update {bead.id} --status {target}"
    return _draft("status", target, role, rig or town.rig_of(bead), request, note, [cmd], [bead])


def build_priority(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    phrase, note = ref(bead, rng)
    request = rng.choice(TEMPLATES["priority"]).format(ref=phrase, prio=rng.choice(PRIORITY_WORDS[bead.priority]))
    return _draft("priority", f"p{bead.priority}", "mayor", town.rig_of(bead), request, note,
                  [f"bd update {bead.id} -p {bead.priority}"], [bead])


def build_label(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    if not bead.labels:
        return None
    label = rng.choice(bead.labels)
    phrase, note = ref(bead, rng)
    role, rig = _role(bead.created_by, "crew", not_polecat="crew")
    request = rng.choice(TEMPLATES["label"]).format(ref=phrase, label=label)
    return _draft("label", "add", role, rig or town.rig_of(bead), request, note,
                  [f"bd label add {bead.id} {q(label)}"], [bead])


def build_reopen(bead: Bead, town: Town, rng: random.Random) -> Draft | None:
    if bead.status != "closed":
        return None
    why = rng.choice(REOPEN_WHY)
    phrase, note = ref(bead, rng)
    role, rig = _role(bead.created_by, "crew", not_polecat="crew")
    request = rng.choice(TEMPLATES["reopen"]).format(ref=phrase, why=why)
    return _draft("reopen", "reason", role, rig or town.rig_of(bead), request, note,
                  [f"bd reopen {bead.id} --reason {q(why)}"], [bead])


def build_dep(edge: tuple[str, str, str], town: Town, rng: random.Random) -> Draft | None:
    a_id, b_id, dtype = edge
    a, b = town.beads[a_id], town.beads[b_id]
    ra, na = ref(a, rng, allow_title_only=False)
    rb, nb = ref(b, rng, allow_title_only=False)
    request = rng.choice(TEMPLATES[f"dep_{dtype}"]).format(a=ra, b=rb)
    if dtype == "blocks":
        cmd = f"bd dep add {a_id} --blocked-by {b_id}" if rng.random() < 0.25 else f"bd dep add {a_id} {b_id}"
        lead = f"{a_id} is the one that waits, so it comes first; {b_id} is the blocker."
    else:
        cmd, lead = f"bd dep add {a_id} {b_id} -t {dtype}", f"A {dtype} link from {a_id} to {b_id}."
    role, rig = _role(a.created_by, "mayor", not_polecat="crew")
    return _draft("dep", dtype, role, rig or town.rig_of(a), request, " ".join(x for x in (na, nb) if x),
                  [cmd], [a, b], lead=lead, dep=(a_id, b_id, dtype))


def build_epic(epic: Bead, kids: list[Bead], town: Town, rng: random.Random) -> Draft | None:
    kids = [k for k in kids if k.itype in CREATE_TYPES][:MAX_CHILDREN]
    if len(kids) < 2:
        return None
    items = "\n".join(f"- {k.title} ({k.itype}, P{k.priority})" for k in kids)
    new = rng.random() < 0.4
    if new:
        request = rng.choice(TEMPLATES["epic_new"]).format(
            title=epic.title, prio=rng.choice(PRIORITY_WORDS[epic.priority]), items=items)
        cmds = [f"EPIC=$({create_line(epic.title, 'epic', epic.priority, silent=True)})"]
        parent, lead = '"$EPIC"', "Create the epic with --silent to capture its id, then each child with --parent."
    else:
        phrase, _ = ref(epic, rng, allow_title_only=False)
        request = rng.choice(TEMPLATES["epic"]).format(epic=phrase, items=items)
        cmds, parent, lead = [], epic.id, f"One bd create per child, each with --parent {epic.id}."
    cmds += [create_line(k.title, k.itype, k.priority, parent=parent) for k in kids]
    role, rig = _role(epic.created_by, "mayor", not_polecat="crew")
    return _draft("epic", "new-epic" if new else "existing-epic", role, rig or town.rig_of(epic), request, "",
                  cmds, [epic] + kids, lead=lead, parent=parent.strip('"'))
