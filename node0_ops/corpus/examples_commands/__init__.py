"""Command tasks: operator-language requests -> the exact ``bd``/``gt`` commands (SFT examples).

Sources are the normalized ``beads_issue`` records (all three beads dialects, see collect.py):
titles, types, priorities, labels, close reasons, assignees, dependency edges and epic
hierarchies. Families (``meta["family"]``, syntax sections in :data:`.draft.CLI_SECTIONS`):

- ``bd`` (task ``bead-management``): create (type/priority/labels/parent/description), close
  with a reason, status (``--status``/``--claim``), priority, label, reopen, dep (``bd dep add
  <blocked> <blocker>``, also ``--blocked-by``, ``-t discovered-from|related``), epic + children
  (``--parent <epic>``, or a new epic captured with ``--silent``);
- ``gt`` (task ``conventions``): sling, convoy, mail send, nudge, escalate, done, handoff.

Every bead gives one task from a family picked by a seeded draw among those that fit it;
every usable dependency edge gives a dep task; every epic with >= 2 usable children gives an
epic task and a convoy task. Requests vary in wording (imperative, question, terse, with a
context sentence, the bead named by id, id + title, or title) and framing (:mod:`.framing`).
Each answer is verified before it is kept (:mod:`.verify`); rejected ones are dropped and
reported in ``skipped`` as ``(record_id, "rejected <family>: <error>")``.

Deterministic: every draw comes from ``random.Random`` seeded with the source record ids and
:data:`SEED`. ``meta`` per example: ``generator``, ``family``, ``variant``, ``beads``,
``commands``, ``cli_ref``, ``validator`` (verdict), ``framing``, ``answer_format``, ``dep``, ``parent``.

Usage::

    from node0_ops.corpus.examples_commands import command_examples, command_summary, command_dpo_pairs
    examples, skipped = command_examples(records)
    print(command_summary(examples, skipped))
    pairs = command_dpo_pairs(examples)     # known-bad variants for DPO
"""

import random
from collections import Counter
from collections.abc import Callable, Sequence

from node0_ops.corpus.examples_commands import bd_families as bd
from node0_ops.corpus.examples_commands import gt_families as gt
from node0_ops.corpus.examples_commands.bad import bad_variant, command_dpo_pairs
from node0_ops.corpus.examples_commands.draft import BD_FAMILIES, CLI_SECTIONS, GT_FAMILIES, Draft
from node0_ops.corpus.examples_commands.framing import FORMAT_ASKS, frame, render_answer
from node0_ops.corpus.examples_commands.town import Town, build_town
from node0_ops.corpus.examples_commands.verify import verify
from node0_ops.corpus.schema import Example, Record, stable_id

__all__ = ["BUILDERS", "SEED", "bad_variant", "build_town", "command_dpo_pairs", "command_examples",
           "command_summary", "request_templates"]

SEED = "gtft-command-tasks/e3-2026"
# name -> (source kind, builder, weight of the per-bead draw). Kinds: "bead" (one Bead),
# "edge" (issue, depends_on, type), "epic" (epic Bead, children). Weight 0 = not drawn.
BUILDERS: dict[str, tuple[str, Callable, float]] = {
    "create": ("bead", bd.build_create, 3.0),
    "close": ("bead", bd.build_close, 2.0),
    "status": ("bead", bd.build_status, 1.5),
    "priority": ("bead", bd.build_priority, 0.7),
    "label": ("bead", bd.build_label, 1.5),
    "reopen": ("bead", bd.build_reopen, 0.5),
    "sling": ("bead", gt.build_sling, 1.5),
    "mail": ("bead", gt.build_mail, 1.5),
    "nudge": ("bead", gt.build_nudge, 1.2),
    "escalate": ("bead", gt.build_escalate, 1.0),
    "done": ("bead", gt.build_done, 1.5),
    "handoff": ("bead", gt.build_handoff, 0.6),
    "dep": ("edge", bd.build_dep, 0.0),
    "epic": ("epic", bd.build_epic, 0.0),
    "convoy": ("epic", gt.build_convoy, 0.0),
}
TASK_OF = {**{f: "bead-management" for f in BD_FAMILIES}, **{f: "conventions" for f in GT_FAMILIES}}


def _rng(*parts) -> random.Random:
    return random.Random(int(stable_id(SEED, *parts), 16))


def _weighted_order(names: list[str], weights: list[float], rng: random.Random) -> list[str]:
    """Names ordered by a weighted draw without replacement (Efraimidis-Spirakis keys)."""
    keys = [rng.random() ** (1.0 / w) for w in weights]
    return [n for _, n in sorted(zip(keys, names), reverse=True)]


def _example(draft: Draft, rng: random.Random, builder: str) -> tuple[Example | None, str]:
    messages, fmeta = frame(draft, rng)
    verdict = verify(draft.commands, messages[-1]["content"], dep=draft.dep, parent=draft.parent)
    if not verdict.ok:
        return None, f"rejected {builder}: {verdict.errors[0]}"
    meta = {"generator": "commands", "family": draft.family, "builder": builder, "variant": draft.variant,
            "beads": draft.beads, "commands": list(draft.commands), "cli_ref": draft.cli_ref,
            "validator": verdict.to_meta(), "dep": list(draft.dep) if draft.dep else None,
            "parent": draft.parent, **fmeta, **draft.extra}
    task = TASK_OF.get(draft.family, "conventions" if draft.commands[0].startswith("gt ") else "bead-management")
    return Example(kind="chat", role=draft.role, task=task, origin="commands", source_key=draft.source_key,
                   record_ids=list(draft.record_ids), messages=messages, meta=meta), ""


def command_examples(records: Sequence[Record], builders: dict | None = None
                     ) -> tuple[list[Example], list[tuple[str, str]]]:
    """Command-task examples from the ``beads_issue`` records (other kinds are ignored).

    Args:
        records: scrubbed records.  builders: override :data:`BUILDERS` (same shape).
    Returns:
        ``(examples, skipped)``; ``skipped`` holds ``(record_id, reason)`` for beads records left
        out (older copy, noise, no family fits) and for answers the verifier rejected
        (``"rejected <builder>: <error>"``).
    """
    builders = BUILDERS if builders is None else builders
    town: Town = build_town(records)
    out, skipped = [], list(town.skipped)
    per_bead = [(n, b, w) for n, (kind, b, w) in builders.items() if kind == "bead" and w > 0]

    def keep(draft: Draft | None, rng: random.Random, name: str, rid: str) -> bool:
        if draft is None:
            return False
        ex, why = _example(draft, rng, name)
        if ex is None:
            skipped.append((rid, why))
            return True        # tried and counted; do not fall through to another family
        out.append(ex)
        return True

    for bead_id in sorted(town.beads):
        bead = town.beads[bead_id]
        rng = _rng(bead.record_id, "bead")
        order = _weighted_order([n for n, _, _ in per_bead], [w for _, _, w in per_bead], rng)
        fns = {n: b for n, b, _ in per_bead}
        if not any(keep(fns[n](bead, town, rng), rng, n, bead.record_id) for n in order) and per_bead:
            skipped.append((bead.record_id, "no command family fits this bead"))
    for name, (kind, fn, _) in builders.items():
        if kind == "edge":
            for edge in town.edges:
                a, b = town.beads[edge[0]], town.beads[edge[1]]
                keep(fn(edge, town, _rng(a.record_id, b.record_id, name)), _rng(a.record_id, b.record_id, name, "f"),
                     name, a.record_id)
        elif kind == "epic":
            for epic_id, kids in sorted(town.children.items()):
                epic = town.beads[epic_id]
                rng = _rng(epic.record_id, name)
                keep(fn(epic, kids, town, rng), rng, name, epic.record_id)
    return out, skipped


def command_summary(examples: Sequence[Example], skipped: Sequence[tuple[str, str]] = ()) -> dict:
    """Counts for reports: kept per family/role/task/framing/answer format, rejected per builder
    and reason, skipped per reason (rejections excluded), and the bad-variant count per mode."""
    ex = [e for e in examples if e.origin == "commands"]
    rejected = [r for _, r in skipped if r.startswith("rejected ")]
    modes = Counter(m for m in (bad_variant(e) for e in ex) if m is not None for m in [m[1]])
    return {
        "kept": len(ex),
        "by_family": dict(sorted(Counter(e.meta["family"] for e in ex).items())),
        "by_role": dict(sorted(Counter(e.role for e in ex).items())),
        "by_task": dict(sorted(Counter(e.task for e in ex).items())),
        "by_framing": dict(sorted(Counter(e.meta["framing"] for e in ex).items())),
        "by_answer_format": dict(sorted(Counter(e.meta["answer_format"] for e in ex).items())),
        "rejected": len(rejected),
        "rejected_by_builder": dict(sorted(Counter(r.split(":", 1)[0].removeprefix("rejected ") for r in rejected).items())),
        "rejected_reasons": dict(Counter(rejected).most_common(10)),
        "skipped_by_reason": dict(sorted(Counter(r for _, r in skipped if not r.startswith("rejected ")).items())),
        "bad_variants_by_mode": dict(sorted(modes.items())),
    }


def request_templates() -> list[str]:
    """Every request/format template string this generator uses (for template-leak tests)."""
    out = []
    for table in (bd.TEMPLATES, gt.TEMPLATES):
        for v in table.values():
            for t in (v.values() if isinstance(v, dict) else [v]):
                out += list(t)
    out += [t for ts in FORMAT_ASKS.values() for t in ts if t]
    return out


# re-exported for callers that render their own variants
__all__ += ["CLI_SECTIONS", "render_answer"]
