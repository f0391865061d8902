"""Beads issue history -> bead-management (and planning) SFT examples with real ``bd`` syntax.

Each normalized ``beads_issue`` record (payload shape in collect.py) yields up to:

- create:  the request "file a <type> bead ..." -> ``bd create "<title>" -t <type> -p <n> [-l a,b] [--parent <epic>] [-d ...]``
- claim:   "start work on <id>" -> ``bd update <id> --claim`` (crew/mayor) or ``--status in_progress`` (others)
- close:   "close <id>, <reason>" -> ``bd close <id> --reason "<close_reason>"``
- dep:     "<a> cannot start until <b> is done" -> ``bd dep add <a> <b>`` (``issue_id`` is blocked by ``depends_on_id``)
- epic:    "break epic <id> into children ..." -> one ``bd create ... --parent <id>`` per child (task ``planning``)

Flag names follow ``shared/docs/gastown-formats.md`` §2.4 (``bd create -t/-p/-l/-d/--parent``,
``bd update --claim/--status``, ``bd close --reason``, ``bd dep add <issue> <depends-on>``).
Noise is skipped, never rewritten: wisps/ephemeral beads, tombstones, infra types (agent, message,
event, ...), ``--help`` pollution titles, and closes with a generic reason ("Closed", "burned: ...").

Usage::

    from node0_ops.corpus.examples_beads import beads_examples
    examples, skipped = beads_examples(records)   # records of kind "beads_issue"
"""

import re
from collections import defaultdict
from collections.abc import Sequence

from node0_ops.corpus.examples_common import actor_role, assistant, bash_call, role_card, system, user
from node0_ops.corpus.schema import Example, Record

CREATE_TYPES = ("bug", "feature", "task", "epic", "chore", "decision", "spike", "story", "milestone")
INFRA_TYPES = {"agent", "role", "rig", "message", "event", "molecule", "gate", "merge-request",
               "convoy", "slot", "queue"}
INFRA_LABELS = ("gt:agent", "gt:merge-request", "gt:message", "gt:group", "gt:escalation")
GENERIC_CLOSE = re.compile(
    r"^(closed|done|fixed|complete[d]?|merged|duplicate|wontfix|ok|n/?a)\.?$|^burned:|^patrol cycle complete"
    r"|auto-closed|pollution|help artifact|^stale |^squashed from", re.I)
_AUTO_TITLE = re.compile(r"^(Digest: mol-|Session ended: |Session started: )")
_WISP_ID = re.compile(r"-(wisp|mol|eph)-")
_SAFE_DQ = re.compile(r'^[^"$`\\!]*$')
MAX_DESC = 500
# Gas Town "key: value" description headers (formats doc §2.2), stripped even when not parsed into headers.
GT_HEADER_KEYS = {"attached_molecule", "attached_formula", "attached_at", "attached_args", "dispatched_by",
                  "role_type", "rig", "agent_state", "hook_bead", "role_bead", "cleanup_status", "active_mr",
                  "notification_level", "branch", "target", "source_issue", "worker", "agent_bead", "retry_count",
                  "last_conflict_sha", "conflict_task_id"}
MAX_CHILDREN = 8


def q(s: str) -> str:
    """Quote a shell word the way humans write ``bd`` commands: ``"..."`` when safe, else shlex-style."""
    import shlex
    if s and re.fullmatch(r"[\w@%+=:,./-]+", s):
        return s
    if _SAFE_DQ.match(s) and "\n" not in s:
        return f'"{s}"'
    return shlex.quote(s)


def clean_description(p: dict) -> str:
    """Issue description prose: header lines (kept in ``payload['headers']``) removed, stopped at the
    first code fence or heading, whitespace-normalized, cut on a word to ``MAX_DESC`` chars."""
    headers = set((p.get("headers") or {}).keys()) | GT_HEADER_KEYS
    lines = [ln for ln in (p.get("description") or "").splitlines()
             if not (":" in ln and ln.split(":", 1)[0].strip() in headers)]
    text = "\n".join(lines)
    text = re.split(r"```|\n#{1,6} ", text, maxsplit=1)[0]     # prose before code blocks / sections
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_DESC:
        text = text[:MAX_DESC].rsplit(" ", 1)[0] + " ..."
    return text


def skip_reason(p: dict) -> str | None:
    """Why a beads issue payload cannot give a correct example (None when usable)."""
    iid, title = p.get("id") or "", (p.get("title") or "").strip()
    if not iid or not title:
        return "missing id or title"
    if p.get("tombstone") or p.get("status") == "tombstone":
        return "tombstone"
    if p.get("ephemeral") or _WISP_ID.search(iid):
        return "ephemeral wisp/molecule"
    if (p.get("issue_type") or "") in INFRA_TYPES or any(lb in INFRA_LABELS for lb in p.get("labels") or []):
        return f"infra bead ({p.get('issue_type')})"
    if title.startswith("-") or title.lower().startswith("usage:") or "--help" in title:
        return "CLI help pollution title"
    if _AUTO_TITLE.match(title):
        return "automatic digest/session bead"
    return None


def _issue_role(p: dict, default: str, prefer: str = "assignee") -> tuple[str, str | None]:
    order = ("assignee", "created_by") if prefer == "assignee" else ("created_by", "assignee")
    for key in order:
        role, rig = actor_role(p.get(key))
        if role:
            return role, rig
    return default, None


def _parent_of(p: dict) -> str | None:
    for d in p.get("dependencies") or []:
        if d.get("type") == "parent-child" and d.get("issue_id") == p.get("id"):
            return d.get("depends_on_id")
    parent = (p.get("extra") or {}).get("parent")
    return parent if isinstance(parent, str) else None


def _labels(p: dict) -> list[str]:
    return [lb for lb in p.get("labels") or [] if isinstance(lb, str) and re.fullmatch(r"[\w:.@/-]+", lb)]


def _mk(role, rig, task, rec: Record, msgs, kind, record_ids=None) -> Example:
    return Example(kind="chat", role=role, task=task, origin="beads", source_key=rec.source_key,
                   record_ids=record_ids or [rec.record_id],
                   messages=[system(role_card(role, rig or rec.provenance.rig))] + msgs,
                   meta={"generator": kind, "bead": rec.payload.get("id")})


def create_command(p: dict, parent: str | None = None) -> str | None:
    """``bd create`` line for an issue payload, or None when its type/priority cannot be expressed."""
    itype, prio = p.get("issue_type") or "task", p.get("priority")
    if itype not in CREATE_TYPES or not isinstance(prio, int) or isinstance(prio, bool) or not 0 <= prio <= 4:
        return None
    parts = ["bd", "create", q(p["title"].strip()), "-t", itype, "-p", str(prio)]
    if _labels(p):
        parts += ["-l", q(",".join(_labels(p)))]
    if parent:
        parts += ["--parent", q(parent)]
    desc = clean_description(p)
    if desc:
        parts += ["-d", q(desc)]
    return " ".join(parts)


def _create_example(rec: Record, by_id: dict) -> Example | None:
    p = rec.payload
    parent = _parent_of(p)
    cmd = create_command(p, parent)
    if cmd is None:
        return None
    itype = p["issue_type"] or "task"
    default = "mayor" if itype == "epic" else "crew"
    role, rig = _issue_role(p, default, prefer="created_by")
    ask = [f'File a new {itype} bead titled "{p["title"].strip()}" at priority P{p["priority"]}.']
    if _labels(p):
        ask.append("Labels: " + ", ".join(_labels(p)) + ".")
    if parent:
        ptitle = (by_id.get(parent) or {}).get("title")
        ask.append(f"It is a child of epic {parent}" + (f' ("{ptitle}")' if ptitle else "") + ".")
    desc = clean_description(p)
    if desc:
        ask.append(f"Description: {desc}")
    task = "planning" if itype == "epic" else "bead-management"
    msgs = [user(" ".join(ask)),
            assistant(f"Creating the {itype} bead with bd.", [bash_call(cmd, "call_create")])]
    return _mk(role, rig, task, rec, msgs, "create")


def _claim_example(rec: Record) -> Example | None:
    p = rec.payload
    if p.get("status") not in ("in_progress", "hooked", "closed"):
        return None
    role, rig = actor_role(p.get("assignee"))
    if not role:
        return None
    if role in ("crew", "mayor"):
        cmd, how = f"bd update {p['id']} --claim", "atomically claim it (assignee + in_progress)"
    else:
        cmd, how = f"bd update {p['id']} --status in_progress", "mark it in_progress"
    msgs = [user(f'Bead {p["id"]} ("{p["title"].strip()}") is assigned to you. Start work on it.'),
            assistant(f"I'll {how} before starting.", [bash_call(cmd, "call_claim")])]
    return _mk(role, rig, "bead-management", rec, msgs, "claim")


def _close_example(rec: Record) -> Example | None:
    p = rec.payload
    reason = re.sub(r"\s+", " ", (p.get("close_reason") or "")).strip()
    if p.get("status") != "closed" or len(reason) < 12 or GENERIC_CLOSE.search(reason):
        return None
    role, rig = actor_role(p.get("assignee"))
    if role == "polecat":          # polecats don't close their own beads; the refinery closes after merge
        role, rig = "refinery", rig
    if not role:
        role, rig = _issue_role(p, "crew", prefer="created_by")
    cmd = f"bd close {p['id']} --reason {q(reason)}"
    msgs = [user(f'Bead {p["id"]} ("{p["title"].strip()}") is finished. Close it with this reason: {reason}'),
            assistant("Closing the bead with the reason.", [bash_call(cmd, "call_close")])]
    return _mk(role, rig, "bead-management", rec, msgs, "close")


DEP_TYPES_OK = ("blocks", "related", "discovered-from", "tracks", "caused-by", "supersedes",
                "duplicates", "relates-to", "waits-for", "validates")


def dep_command(issue_id: str, depends_on_id: str, dtype: str = "blocks") -> str:
    """``bd dep add <issue> <depends-on>`` (``-t <type>`` unless blocks): ``issue`` is blocked by ``depends-on``."""
    cmd = f"bd dep add {q(issue_id)} {q(depends_on_id)}"
    return cmd if dtype == "blocks" else f"{cmd} -t {dtype}"


def _dep_examples(rec: Record, by_id: dict) -> list[Example]:
    p, out = rec.payload, []
    role, rig = _issue_role(p, "crew", prefer="created_by")
    for i, d in enumerate(p.get("dependencies") or []):
        a, b, dtype = d.get("issue_id"), d.get("depends_on_id"), d.get("type") or "blocks"
        if a != p["id"] or not b or dtype not in DEP_TYPES_OK or _WISP_ID.search(b):
            continue
        other = by_id.get(b)
        if other is None or skip_reason(other):
            continue   # the other side must be a real bead we can name
        ta, tb = p["title"].strip(), other["title"].strip()
        if dtype == "blocks":
            ask = (f'{a} ("{ta}") cannot start until {b} ("{tb}") is done. Record that dependency.'
                   if i % 2 == 0 else
                   f'{b} ("{tb}") has to land before {a} ("{ta}"). Add the blocking dependency.')
            say = f"{a} needs {b}, so {a} is the dependent issue and {b} the blocker."
        else:
            ask = f'Link {a} ("{ta}") to {b} ("{tb}") with a {dtype} dependency.'
            say = f"Adding a {dtype} link from {a} to {b}."
        msgs = [user(ask), assistant(say, [bash_call(dep_command(a, b, dtype), "call_dep")])]
        out.append(_mk(role, rig, "bead-management", rec, msgs, f"dep-{dtype}"))
    return out


def _epic_examples(epics: dict[str, list[Record]], by_rec: dict[str, Record]) -> list[Example]:
    out = []
    for epic_id, children in sorted(epics.items()):
        erec = by_rec.get(epic_id)
        if erec is None or skip_reason(erec.payload) or len(children) < 2:
            continue
        children = sorted(children, key=lambda r: r.payload["id"])[:MAX_CHILDREN]
        cmds = []
        for ch in children:
            cmd = create_command({**ch.payload, "labels": [], "description": ""}, parent=epic_id)
            if cmd:
                cmds.append((ch, cmd))
        if len(cmds) < 2:
            continue
        ep = erec.payload
        role, rig = _issue_role(ep, "mayor", prefer="created_by")
        if role == "polecat":
            role = "crew"
        lines = [f"- {ch.payload['title'].strip()} ({ch.payload['issue_type']}, P{ch.payload['priority']})"
                 for ch, _ in cmds]
        ask = (f'Break epic {epic_id} ("{ep["title"].strip()}") into child beads:\n' + "\n".join(lines))
        calls = [bash_call(cmd, f"call_child_{i}") for i, (_, cmd) in enumerate(cmds)]
        msgs = [user(ask), assistant(f"Creating {len(calls)} children under {epic_id} with --parent.", calls)]
        ex = _mk(role, rig, "planning", erec, msgs, "epic",
                 record_ids=[erec.record_id] + [ch.record_id for ch, _ in cmds])
        out.append(ex)
    return out


def latest_per_id(issues: list[Record]) -> list[Record]:
    """One record per bead id: the most recently updated (``updated_at``/``closed_at``), later input wins ties.

    The same bead appears in several exports (backup + export, ``issues.jsonl`` + ``.new``).
    """
    best: dict[str, tuple[str, int]] = {}
    for i, r in enumerate(issues):
        p = r.payload if isinstance(r.payload, dict) else {}
        iid = p.get("id") or f"__no_id_{i}"
        stamp = str(p.get("updated_at") or (p.get("extra") or {}).get("updated_at") or p.get("closed_at") or "")
        if iid not in best or stamp >= best[iid][0]:
            best[iid] = (stamp, i)
    keep = sorted(i for _, i in best.values())
    return [issues[i] for i in keep]


def beads_examples(records: Sequence[Record]) -> tuple[list[Example], list[tuple[str, str]]]:
    """Build bead-management/planning examples from ``beads_issue`` records.

    Args:
        records: records of any kind; only ``kind == "beads_issue"`` are used.
    Returns:
        ``(examples, skipped)`` where ``skipped`` holds ``(record_id, reason)`` for issues that
        produced no example (noise, infra beads, malformed payloads).
    """
    all_issues = [r for r in records if r.kind == "beads_issue"]
    issues = latest_per_id(all_issues)
    kept_ids = {r.record_id for r in issues}
    by_id = {r.payload.get("id"): r.payload for r in issues if isinstance(r.payload, dict)}
    by_rec = {r.payload.get("id"): r for r in issues if isinstance(r.payload, dict)}
    out = []
    skipped = [(r.record_id, "older copy of a bead seen in another export") for r in all_issues
               if r.record_id not in kept_ids]
    epics: dict[str, list[Record]] = defaultdict(list)
    for rec in issues:
        p = rec.payload
        why = skip_reason(p) if isinstance(p, dict) else "payload is not an object"
        if why:
            skipped.append((rec.record_id, why))
            continue
        made = [_create_example(rec, by_id), _claim_example(rec), _close_example(rec)]
        made += _dep_examples(rec, by_id)
        made = [m for m in made if m is not None]
        parent = _parent_of(p)
        if parent and (by_id.get(parent) or {}).get("issue_type") == "epic":
            epics[parent].append(rec)
        if not made:
            skipped.append((rec.record_id, "no usable fields (type/priority/status/reason)"))
        out += made
    out += _epic_examples(epics, by_rec)
    return out, skipped
