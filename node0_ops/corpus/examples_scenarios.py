"""Formula records -> patrol DECISION SCENARIOS (evidence in, labelled action out).

For every step of the patrol and triage formulas (mol-deacon-patrol, mol-witness-patrol,
mol-refinery-patrol, mol-boot-triage, mol-dog-*) this reads the step's condition -> action
rules from its prose (:mod:`.scenarios.rules`), renders realistic shell output that plants
or leaves out each condition (:mod:`.scenarios.evidence`) and asks for the decision in
several framings (:mod:`.scenarios.framings`). The answer is one JSON object
``{"action", "reason"}`` (plus ``target``/``bead``/``command``/``confidence`` when the prompt
asks for them) with the action the formula's rule gives and a reason citing the evidence.

Lineage per example (``meta``): ``formula``, ``step``, ``rule_text``, ``rule_family``,
``action`` / ``allowed`` (the labels the prompt shows, :mod:`.scenarios.labels`) and
``canonical_action`` / ``canonical_allowed`` (the formula's own labels), ``outcome``, ``family``
(scenario family), ``framing`` (+ ``framing_dims``); ``record_ids`` = the formula record. Deterministic: every RNG is seeded from
:data:`SEED`, the record id, the step and the rule family. Steps with no parseable rule are
reported in ``skipped`` as ``(record_id, "<formula>/<step>: <reason>")``.

One formula can come from several sources (the town's own copy, an upstream gastown checkout,
an older checkout): a step's rule family (zombie, context, idle ...) is labelled by the first source
that gives that step such a rule (collect order: the town before ``--extra`` paths), so one
situation never gets two contradictory labels; later sources only add the step rules the earlier
ones lack.

Usage::

    from node0_ops.corpus.examples_scenarios import scenario_examples
    examples, skipped = scenario_examples(records)
"""

import random
from collections.abc import Sequence

from node0_ops.corpus.examples_common import assistant
from node0_ops.corpus.examples_formula import PATROL_ROLES
from node0_ops.corpus.scenarios.evidence import cases_for
from node0_ops.corpus.scenarios.framings import draw_framing, render_answer, render_prompt
from node0_ops.corpus.scenarios.labels import relabel
from node0_ops.corpus.scenarios.rules import Rule, extract_rules
from node0_ops.corpus.schema import Example, Record

SEED = "scenarios-v1-7c21"
ROUNDS = 32                 # rounds of cases per rule (fresh names/times per round)
_CONFIDENCE = {"clear-hit": 0.92, "nothing-wrong": 0.9, "below-threshold": 0.75, "above-threshold": 0.8,
               "dirty-worktree": 0.7, "conflicting-signals": 0.6}


def scenario_role(name: str) -> str | None:
    """Role that runs formula ``name`` when it is a patrol/triage formula, else None."""
    if name in PATROL_ROLES:
        return PATROL_ROLES[name]
    if name.startswith("mol-dog-"):
        return "dog"
    return None


def action_for(rule: Rule, outcome: str) -> str | None:
    """The action label of ``outcome`` (``hit``..., ``row:<i>``, ``general:<a>``) under ``rule``; None if the rule has none."""
    if outcome.startswith("general:"):
        return outcome.split(":", 1)[1]
    if outcome.startswith("row:"):
        return rule.rows[int(outcome[4:])].action
    return rule.actions.get(outcome)


def _examples_for_rule(rec: Record, role: str, rule: Rule, rounds: int) -> list[Example]:
    rng = random.Random(f"{SEED}:{rec.record_id}:{rule.step_id}:{rule.family}")
    allowed = rule.allowed()
    out = []
    for k, case in enumerate(cases_for(rule, rng, rounds)):
        action = action_for(rule, case.outcome)
        if action is None or action not in allowed:
            continue
        if case.family == "nothing-wrong" and rng.random() < 0.5:
            continue            # keep the no-op share from swamping the decisions
        fr = draw_framing(rng)
        shown, label = relabel(allowed, rng)
        rig = case.rig if role in ("witness", "refinery") else None
        now = case.now
        msgs = render_prompt(fr, role=role, rig=rig, formula=rule.formula, step=rule.step_id, evidence=case.evidence,
                             allowed=shown, guidance=rule.text, now=now)
        answer = render_answer(fr, action=label[action], reason=case.reason[:200], target=case.target, bead=case.bead,
                               command=case.command, confidence=_CONFIDENCE.get(case.family, 0.8))
        out.append(Example(kind="chat", role=role, task="patrol-decision", origin="scenario",
                           # one split group per generated case: the held-out splits hold unseen evidence
                           # for the town's rules (partition does not group scenarios by their formula record)
                           source_key=f"scenario:{rule.formula}:{rule.step_id}:{rule.family}:{k}", record_ids=[rec.record_id],
                           messages=msgs + [assistant(answer)],
                           meta={"generator": "scenario", "formula": rule.formula, "step": rule.step_id,
                                 "rule_text": rule.text, "rule_family": rule.family, "action": label[action],
                                 "canonical_action": action, "canonical_allowed": allowed,
                                 "outcome": case.outcome, "family": case.family, "framing": fr.name,
                                 "framing_dims": fr.dims(), "allowed": shown, "cites": case.cites,
                                 "threshold": rule.threshold, "threshold_src": rule.threshold_src}))
    return out


def scenario_examples(records: Sequence[Record], rounds: int = ROUNDS) -> tuple[list[Example], list[tuple[str, str]]]:
    """Decision-scenario SFT examples from the patrol/triage ``formula`` records.

    Returns:
        ``(examples, skipped)``; ``skipped`` holds ``(record_id, "<formula>/<step>: <reason>")`` for
        each step whose prose gave no condition -> action rule, and ``(record_id, reason)`` for a
        patrol formula with no steps.

    Raises:
        ValueError: a patrol formula payload is malformed (no name, ``steps`` not a list); the
            format stage reports it per record.
    """
    out, skipped = [], []
    owner: dict[tuple[str, str, str], str] = {}   # (formula, step, rule family) -> record id that labels it
    for rec in records:
        if rec.kind != "formula" or not isinstance(rec.payload, dict):
            continue
        name = rec.payload.get("name") or ""
        role = scenario_role(name)
        if role is None:
            continue
        rules, skips = extract_rules(rec.payload)
        skipped += [(rec.record_id, f"{name}/{sid}: {why}") for sid, why in skips]
        if not rec.payload.get("steps"):
            skipped.append((rec.record_id, f"{name}: no steps"))
        for key in dict.fromkeys((r.step_id, r.family) for r in rules):
            first = owner.setdefault((name, *key), rec.record_id)
            if first != rec.record_id:
                skipped.append((rec.record_id, f"{name}/{key[0]}: {key[1]} rule already labelled by record {first} "
                                               "(an earlier source of the same formula wins)"))
        for rule in rules:
            if owner[(name, rule.step_id, rule.family)] == rec.record_id:
                out += _examples_for_rule(rec, role, rule, rounds)
    return out, skipped
