"""``Draft``: one command task before framing (request, exact commands, role, lineage)."""

from dataclasses import dataclass, field

BD_REF = "beads docs/CLI_REFERENCE.md"
GT_REF = "gastown docs/reference.md"
# Family -> the reference section its command syntax comes from (lineage).
CLI_SECTIONS = {
    "create": f"{BD_REF} § bd create",
    "close": f"{BD_REF} § bd close",
    "status": f"{BD_REF} § bd update (--status, --claim)",
    "priority": f"{BD_REF} § bd update (-p)",
    "label": f"{BD_REF} § bd label add",
    "reopen": f"{BD_REF} § bd reopen",
    "dep": f"{BD_REF} § bd dep add",
    "epic": f"{BD_REF} § bd create (--parent, --silent)",
    "convoy": f"{GT_REF} § Convoy Management",
    "sling": f"{GT_REF} § Work Assignment",
    "mail": f"{GT_REF} § Communication",
    "nudge": f"{GT_REF} § Sessions (gt nudge)",
    "escalate": f"{GT_REF} § Escalation",
    "done": "gastown internal/templates/commands/bodies/done.md",
    "handoff": f"{GT_REF} § Sessions (gt handoff)",
}
BD_FAMILIES = ("create", "close", "status", "priority", "label", "reopen", "dep", "epic")
GT_FAMILIES = ("convoy", "sling", "mail", "nudge", "escalate", "done", "handoff")


@dataclass
class Draft:
    """A request and the exact commands that answer it.

    Attributes:
        family: one of :data:`CLI_SECTIONS`' keys.  variant: sub-case (``blocked``, ``new-epic`` ...).
        role / rig: who does this work (schema ROLES) and where.
        request: the operator's words.  context: optional sentence(s) shown before it.
        commands: exact ``bd``/``gt`` lines, in order.  lead: optional sentence before the block.
        beads: source bead ids.  record_ids / source_key: lineage and split grouping.
        dep: ``(blocked, blocker, type)`` when the answer records a dependency.
        parent: epic id (or ``$EPIC``) every child create must carry as ``--parent``.
    """

    family: str
    variant: str
    role: str
    rig: str | None
    request: str
    commands: list[str]
    beads: list[str]
    record_ids: list[str]
    source_key: str
    context: str = ""
    lead: str = ""
    dep: tuple[str, str, str] | None = None
    parent: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def cli_ref(self) -> str:
        return CLI_SECTIONS.get(self.family, "")
