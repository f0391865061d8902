"""Action-label variation for decision scenarios: the model must pick from the prompt's list.

A formula's rule gives a canonical action (``file-warrant``, ``continue`` ...). Towns, tools and
eval suites name the same decision differently (``file_warrant``, ``no-op``, ``proceed``), so a
model that memorised one vocabulary fails as soon as the list changes. Per example this draws

- a **label style**: ``formula`` (canonical kebab-case), ``snake`` (``file_warrant``),
  ``upper`` (``FILE-WARRANT``, the casing of the formulas' decision tables) or ``alias`` (each action renamed with probability 0.6 to a synonym from :data:`ALIASES`,
  written from the formulas' own verbs and plain English; style applied on top);
- the **order** of the allowed list (shuffled: never alphabetical-first-is-safe);
- 0-2 **distractors**: actions of unrelated rules that are clearly not this step's decision.

The answer uses the shown label of the rule's action, so the label changes with the list and
only the meaning stays fixed. Seeded by the caller's ``rng`` (deterministic corpus).

Usage::

    shown, label = relabel(allowed, rng)          # label["file-warrant"] -> "death-warrant"
"""

import random

ALIASES: dict[str, tuple[str, ...]] = {
    "continue": ("no-op", "noop", "carry-on", "all-clear", "do-nothing", "stand-by", "next-step"),
    "escalate": ("raise", "escalate-to-mayor", "page", "alert-mayor", "flag-up", "report-upstream"),
    "restart": ("respawn", "relaunch", "reboot", "restart-session", "bounce"),
    "nudge": ("poke", "ping", "remind", "send-nudge", "prod"),
    "handoff": ("hand-off", "cycle", "fresh-session", "session-handoff"),
    "start": ("launch", "spawn", "begin", "start-work", "kick-off"),
    "reject": ("decline", "refuse", "send-back", "bounce-back"),
    "warn": ("caution", "flag", "raise-warning", "note-warning"),
    "halt": ("stop", "pause", "freeze", "abort"),
    "file-warrant": ("warrant", "death-warrant", "file-death-warrant", "mark-dead"),
    "file-bug": ("open-bug", "report-bug", "new-bug"),
    "retry": ("try-again", "rerun", "re-run"),
    "checkpoint": ("save-state", "snapshot", "record-progress"),
    "fix-needed": ("needs-fix", "request-fix", "send-fix"),
    "dispatch-dog": ("send-dog", "assign-dog", "dog-dispatch"),
    "resolve-gate": ("clear-gate", "open-gate", "unblock-gate"),
    "cleanup": ("clean-up", "tidy", "purge"),
    "wake": ("wake-up", "rouse", "resume"),
    "reset-bead": ("reopen-bead", "unhook", "release-bead"),
    "archive": ("shelve", "file-away", "store"),
    "notify-witness": ("tell-witness", "mail-witness", "alert-witness"),
    "interrupt": ("break-in", "preempt", "cut-in"),
    "close-mr": ("close-request", "drop-mr", "close-merge-request"),
    "recover": ("salvage", "rescue", "restore"),
    "merge": ("land", "integrate", "merge-branch"),
    "conflict-task": ("conflict-fix", "resolve-conflicts", "rebase-task"),
    "reap": ("close-out", "retire", "finish-off"),
    "close-convoy": ("land-convoy", "finish-convoy", "convoy-done"),
    "compact": ("flatten", "squash-history", "run-compaction"),
    "kill-imposters": ("kill-zombies", "stop-imposters", "reap-servers"),
    "push-then-nuke": ("commit-then-nuke", "save-then-nuke", "push-and-nuke"),
    "nuke": ("remove-polecat", "tear-down", "destroy-sandbox"),
    "next-branch": ("take-next", "next-mr", "pick-next"),
}

STYLES = (("formula", 0.3), ("snake", 0.2), ("upper", 0.1), ("alias", 0.4))
# never distractors: the general actions every step offers anyway
_GENERAL = {"continue", "escalate", "nudge", "restart", "halt", "handoff"}


def _style(label: str, style: str) -> str:
    if style == "upper":            # the decision tables' own casing (Boot's NOTHING / NUDGE / WAKE)
        return label.upper()
    return label.replace("-", "_") if style in ("snake", "alias-snake") else label


def relabel(allowed: list[str], rng: random.Random) -> tuple[list[str], dict[str, str]]:
    """Shown allowed list and canonical -> shown label map for one example.

    Args:
        allowed: the rule's canonical allowed actions (``Rule.allowed()``), e.g.
            ``["continue", "escalate", "file-warrant", "nudge"]``.
        rng: the example's seeded RNG.

    Returns:
        ``(shown, label)``: ``shown`` lists the shown labels (shuffled, plus distractors);
        ``label[canonical]`` is the shown name of each canonical action in ``allowed``.
        Shown labels are distinct.
    """
    style = rng.choices([s for s, _ in STYLES], weights=[w for _, w in STYLES])[0]
    label, used = {}, set()
    for a in allowed:
        name = a
        if style == "alias" and a in ALIASES and rng.random() < 0.6:
            name = rng.choice(ALIASES[a])
        name = _style(name, "alias-snake" if style == "alias" and rng.random() < 0.3 else style)
        if name in used:
            name = _style(a, "formula")
        label[a] = name
        used.add(name)
    pool = sorted(set(ALIASES) - set(allowed) - _GENERAL)
    extra = [_style(a, style) for a in rng.sample(pool, rng.choice((0, 0, 1, 2)))]
    shown = list(label.values()) + [e for e in extra if e not in used]
    rng.shuffle(shown)
    return shown, label
