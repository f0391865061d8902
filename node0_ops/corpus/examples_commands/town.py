"""Index of the usable beads a command-task generator draws from: beads, rigs, workers, hierarchy.

``build_town(records)`` keeps the newest copy of every ``beads_issue`` (any dialect, see
``collect.py`` for the payload shape), drops the noise :func:`examples_beads.skip_reason` names
(wisps, tombstones, infra beads, help-pollution titles) and titles that cannot be quoted on one
line, and indexes:

- ``beads``: id -> :class:`Bead` (type, priority, labels, status, close reason, parent, rig, assignee);
- ``children``: epic id -> its usable child beads (``parent-child`` dependency, ``extra.parent``
  or a dotted ``<epic>.<n>`` id whose prefix is an epic);
- ``edges``: ``(issue, depends_on, type)`` with both ends usable (``issue`` is blocked by
  ``depends_on``: gastown-formats.md §2.1);
- ``polecats`` / ``crew``: rig -> worker names seen in assignee / created_by actors
  (``<rig>/polecats/<name>``, ``<rig>/crew/<name>``, formats doc §2.2);
- ``prefix_rig``: id prefix (``gt``, ``bd``) -> the rig most of its actors belong to.

Usage::

    town = build_town(records)
    bead = town.beads["gt-058d"]; town.rig_of(bead); town.children.get("gt-k3v9")
"""

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from node0_ops.corpus.examples_beads import latest_per_id, skip_reason
from node0_ops.corpus.examples_common import actor_role
from node0_ops.corpus.schema import Record

_ACTOR = re.compile(r"^(?P<rig>[\w.-]+)/(?P<kind>polecats|crew)/(?P<name>[\w.-]+)$")
_LABEL = re.compile(r"[\w:.@/-]+")
USABLE_DEP_TYPES = ("blocks", "discovered-from", "related")


@dataclass(frozen=True)
class Bead:
    """One usable bead, the fields command tasks need (all from the normalized payload).

    ``priority`` is an int 0-4 (0 = highest); ``labels`` only shell-safe label words;
    ``close_reason`` whitespace-normalized ('' when none); ``assignee`` the raw actor string.
    """

    id: str
    title: str
    itype: str
    priority: int
    labels: tuple[str, ...]
    status: str
    close_reason: str
    parent: str | None
    assignee: str
    created_by: str
    description: str
    record_id: str
    source_key: str
    path_rig: str | None = None

    @property
    def prefix(self) -> str:
        return self.id.split("-", 1)[0]


@dataclass
class Town:
    """What :func:`build_town` indexed (see the module docstring)."""

    beads: dict[str, Bead] = field(default_factory=dict)
    children: dict[str, list[Bead]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    polecats: dict[str, list[str]] = field(default_factory=dict)
    crew: dict[str, list[str]] = field(default_factory=dict)
    prefix_rig: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def rig_of(self, bead: Bead) -> str | None:
        """The bead's rig: from its assignee/creator actor, its file's rig, else its id prefix's rig."""
        for actor in (bead.assignee, bead.created_by):
            _, rig = actor_role(actor)
            if rig:
                return rig
        return bead.path_rig or self.prefix_rig.get(bead.prefix)

    def worker(self, bead: Bead) -> tuple[str, str] | None:
        """``(kind, name)`` of the bead's assignee when it is a polecat or crew member, else None."""
        m = _ACTOR.match(bead.assignee or "")
        return (m["kind"], m["name"]) if m else None


def _priority(p: dict) -> int | None:
    prio = p.get("priority")
    return prio if isinstance(prio, int) and not isinstance(prio, bool) and 0 <= prio <= 4 else None


def _parent(p: dict) -> str | None:
    for d in p.get("dependencies") or []:
        if d.get("type") == "parent-child" and d.get("issue_id") == p.get("id"):
            return d.get("depends_on_id")
    parent = (p.get("extra") or {}).get("parent")
    if isinstance(parent, str) and parent:
        return parent
    iid = p.get("id") or ""
    return iid.rsplit(".", 1)[0] if re.search(r"\.\d+$", iid) else None


def _title_problem(title: str) -> str | None:
    if "\n" in title or len(title) < 4 or len(title) > 140:
        return "title unusable in a one-line command (multi-line, <4 or >140 chars)"
    return None


def build_town(records: Sequence[Record]) -> Town:
    """Index the usable ``beads_issue`` records (other kinds are ignored).

    Returns:
        A :class:`Town`; ``town.skipped`` holds ``(record_id, reason)`` for every beads record
        left out (older copy, noise, bad priority, unquotable title).
    """
    issues = [r for r in records if r.kind == "beads_issue"]
    latest = latest_per_id(issues)
    kept = {r.record_id for r in latest}
    town = Town(skipped=[(r.record_id, "older copy of a bead seen in another export")
                         for r in issues if r.record_id not in kept])
    actors: dict[str, Counter] = defaultdict(Counter)
    raw_deps: list[tuple[str, str, str]] = []
    for rec in latest:
        p = rec.payload if isinstance(rec.payload, dict) else {}
        why = skip_reason(p) if p else "payload is not an object"
        title = (p.get("title") or "").strip()
        why = why or _title_problem(title)
        prio = _priority(p)
        if not why and prio is None:
            why = f"priority {p.get('priority')!r} is not an int 0-4"
        for actor in (p.get("assignee"), p.get("created_by")):
            m = _ACTOR.match(actor or "")
            if m:
                (town.polecats if m["kind"] == "polecats" else town.crew).setdefault(m["rig"], [])
                names = (town.polecats if m["kind"] == "polecats" else town.crew)[m["rig"]]
                if m["name"] not in names:
                    names.append(m["name"])
                actors[str(p.get("id", "")).split("-", 1)[0]][m["rig"]] += 1
        if why:
            town.skipped.append((rec.record_id, why))
            continue
        bead = Bead(
            id=p["id"], title=title, itype=p.get("issue_type") or "task", priority=prio,
            labels=tuple(lb for lb in p.get("labels") or [] if isinstance(lb, str) and _LABEL.fullmatch(lb)),
            status=p.get("status") or "open", close_reason=re.sub(r"\s+", " ", p.get("close_reason") or "").strip(),
            parent=_parent(p), assignee=p.get("assignee") or "", created_by=p.get("created_by") or "",
            description=p.get("description") or "", record_id=rec.record_id, source_key=rec.source_key,
            path_rig=rec.provenance.rig)
        town.beads[bead.id] = bead
        for d in p.get("dependencies") or []:
            if d.get("issue_id") == bead.id and d.get("type") in USABLE_DEP_TYPES and d.get("depends_on_id"):
                raw_deps.append((bead.id, d["depends_on_id"], d["type"]))
    town.prefix_rig = {pre: c.most_common(1)[0][0] for pre, c in actors.items() if pre and pre != "hq"}
    for bead in town.beads.values():
        parent = town.beads.get(bead.parent or "")
        if parent is not None and parent.itype == "epic":
            town.children.setdefault(parent.id, []).append(bead)
    for kids in town.children.values():
        kids.sort(key=lambda b: b.id)
    seen = set()
    for a, b, t in raw_deps:
        if b in town.beads and a != b and (a, b) not in seen:
            seen.add((a, b))
            town.edges.append((a, b, t))
    town.edges.sort()
    for names in list(town.polecats.values()) + list(town.crew.values()):
        names.sort()
    return town
