"""Operator-language pieces shared by the command-task families: priority/type/severity words,
bead references (by id, id + title, or title with the id given as context) and quoting.

All phrasings are this module's own (not taken from any eval suite). Priority words map to
``bd`` priorities 0-4 (0 = highest, CLI_REFERENCE.md ``bd create -p``); escalation severities to
``gt escalate -s`` levels (gastown docs/reference.md "Escalation": CRITICAL = P0, HIGH = P1,
MEDIUM otherwise).
"""

import random
import re

from node0_ops.corpus.examples_beads import q
from node0_ops.corpus.examples_commands.town import Bead

__all__ = ["PRIORITY_WORDS", "TYPE_WORDS", "SEVERITY_WORDS", "severity", "ref", "q", "short", "first_sentence"]

PRIORITY_WORDS = {
    0: ("P0", "priority 0", "critical priority (P0)", "top priority, P0"),
    1: ("P1", "priority 1", "high priority (P1)"),
    2: ("P2", "priority 2", "normal priority (P2)", "medium priority, P2"),
    3: ("P3", "priority 3", "low priority (P3)"),
    4: ("P4", "priority 4", "backlog priority (P4)"),
}
TYPE_WORDS = {
    "bug": ("bug", "bug report", "defect (type bug)"),
    "feature": ("feature", "feature request"),
    "task": ("task", "work item of type task"),
    "chore": ("chore", "maintenance chore"),
    "epic": ("epic",),
    "decision": ("decision", "decision record"),
    "spike": ("spike", "research spike"),
    "story": ("story", "user story"),
    "milestone": ("milestone",),
}
SEVERITY_WORDS = {
    "CRITICAL": ("critical", "CRITICAL severity", "a critical, drop-everything escalation"),
    "HIGH": ("high severity", "HIGH", "a high-severity blocker"),
    "MEDIUM": ("medium severity", "MEDIUM", "a normal (medium) escalation"),
}


def severity(priority: int) -> str:
    """``gt escalate`` severity for a bead priority: 0 -> CRITICAL, 1 -> HIGH, else MEDIUM."""
    return "CRITICAL" if priority == 0 else "HIGH" if priority == 1 else "MEDIUM"


def short(title: str, limit: int = 60) -> str:
    """``title`` cut on a word to ``limit`` characters (``...`` appended when cut)."""
    if len(title) <= limit:
        return title
    return title[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def first_sentence(text: str, limit: int = 160) -> str:
    """First sentence of ``text`` (whitespace-normalized); '' when it is longer than ``limit``."""
    text = re.sub(r"\s+", " ", text or "").strip()
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    sent = (m.group(1) if m else text).strip()
    return sent if len(sent) <= limit else ""


def ref(bead: Bead, rng: random.Random, allow_title_only: bool = True) -> tuple[str, str]:
    """How a request names ``bead``: ``(phrase, context)``.

    ``phrase`` is the id, the id with its title, or the title alone; with the title alone,
    ``context`` is a sentence that gives the id (else '').
    """
    modes = ["id", "id_title", "title"] if allow_title_only else ["id", "id_title"]
    mode = rng.choice(modes)
    title = short(bead.title, 70)
    if mode == "id":
        return bead.id, ""
    if mode == "id_title":
        return rng.choice([f'{bead.id} ("{title}")', f'{bead.id}, "{title}",']).rstrip(","), ""
    note = rng.choice([f'(Its bead id is {bead.id}.)', f'bd list shows it as {bead.id}.',
                       f'That one is {bead.id} in beads.'])
    return rng.choice([f'the "{title}" bead', f'"{title}"']), note
