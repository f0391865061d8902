"""Prompt framings for one patrol decision (prompt robustness, issue 10 item 2).

Independent dimensions, drawn per example from a seeded RNG, plus phrasing indices into the
pools below (so one decision is asked in hundreds of surface forms and the model has to learn the
decision, not one template):

- ``system``: ``card`` (system role card + user turn), ``inline`` (the role card at the top of
  the one user message) or ``none`` (one user message with a short role line, or none at all);
- ``layout``: ``markdown`` (``##`` sections, fenced evidence), ``plain`` (labelled paragraphs,
  ``$`` lines) or ``flow`` (unlabelled paragraphs, like a message typed by an operator);
- ``order``: ``task_first`` | ``evidence_first`` | ``ask_last`` (the question after the evidence);
- ``allowed``: ``json`` (a JSON list), ``prose`` ("one of a, b or c"), ``bullets`` or ``slash``;
- ``context``: ``extra`` (the step's guidance and the clock) or ``bare``;
- ``fields``: ``min`` (answer ``{"reason", "action"}``), ``opt`` (the prompt allows an optional
  ``target``; the answer has it when the case names one) or ``ext`` (also ``target``, ``bead``,
  ``command``, ``confidence``, which the prompt then asks for).

The chat shape is OpenAI ``messages``; the answer is one JSON object (the shape the
``patrol_decision`` checker in ``node0_ops/evals/checks.py`` parses), reason first.

Usage::

    from node0_ops.corpus.scenarios.framings import draw_framing, render_prompt, render_answer
    fr = draw_framing(rng); msgs = render_prompt(fr, ...) + [assistant(render_answer(fr, ...))]
"""

import json
import random
from dataclasses import dataclass

from node0_ops.corpus.examples_common import role_card

DIMENSIONS = {"system": ("card", "inline", "none"), "layout": ("markdown", "plain", "flow"),
              "order": ("task_first", "evidence_first", "ask_last"),
              "allowed": ("json", "prose", "bullets", "slash"), "context": ("extra", "bare"),
              "fields": ("min", "opt", "ext")}

_ASKS = ("You are on step `{step}` of `{formula}`. From the output below, decide what to do now.",
         "Patrol step `{step}` ({formula}). Read the evidence and pick the next action.",
         "Here is what the `{step}` step of {formula} turned up. What is the right move?",
         "Decide the action for step {step} of the {formula} formula, using only the evidence shown.",
         "The {formula} molecule has you at {step}. Based on these results, what should happen next?",
         "{formula} / {step}: the commands below just ran. Make the call.",
         "You're running {formula} and just reached `{step}`. Look at the output and choose what to do.",
         "Step: {step} (formula {formula}). Given the output, which action fits?",
         "What do you do at this point of your patrol ({formula}, step {step})?",
         "Judge the situation at `{step}` in {formula} from the shell output and act on it.",
         "Your patrol just ran the checks shown. What needs doing?",
         "Look at this output from your rounds and decide the next action.")
_ROLE_LINES = ("You are the Gas Town {role}{where}.", "As the {role}{where}, you are on patrol.",
               "Role: {role}{where}.", "Acting as {role}{where}.", "")
_EVIDENCE_INTROS = ("", "Output:", "The checks printed:", "Observed output:", "What the commands showed:",
                    "Results:", "Command output follows.")
_TITLES = {"Role": ("Role", "Who you are"), "Task": ("Task", "Question", "What to decide"),
           "Context": ("Context", "Background", "Notes"), "Evidence": ("Evidence", "Output", "Observations"),
           "Actions": ("Actions", "Allowed actions", "Options"), "Answer format": ("Answer format", "Reply format", "Output format")}
_CONTEXTS = ("Time now: {now}\nStep guidance: {guidance}", "It is {now}. The formula says: {guidance}",
             "Clock: {now}. Rule for this step: {guidance}", "Guidance from the formula ({now}): {guidance}")
_ANSWERS = {
    "min": ('Answer with one JSON object and nothing else: {"action": <one allowed action>, "reason": <one sentence naming the evidence>}.',
            'Reply in JSON: an "action" from the list and a short "reason" that points at the evidence.',
            'Respond with a JSON object holding "action" and "reason".',
            "Output JSON only, keys action and reason (reason: one sentence citing what you saw).",
            'Give your decision as {"action": "...", "reason": "..."}.',
            "Return a single JSON object with the chosen action and the reason for it."),
    "opt": ('Reply with JSON: "action", "reason", and if it applies a "target" (the agent or bead concerned).',
            'JSON answer with action and reason; you may add "target" naming who or what you act on.',
            'Answer as a JSON object: "action" (from the list), "reason" (cite the output), optional "target".',
            'One JSON object: action, reason and, when there is one, the target agent or bead.'),
    "ext": ('Answer with one JSON object and nothing else, with keys "action" (one allowed action), "reason" '
            '(one sentence naming the evidence), "target" (the agent address it concerns, or null), "bead" '
            '(the bead or MR id, or null), "command" (the gt/bd command you would run, or null) and '
            '"confidence" (0 to 1).',
            'Reply with a JSON object: action, reason, target (agent or null), bead (id or null), command '
            '(the gt/bd command to run, or null), confidence (a number from 0 to 1).'),
}
PHRASINGS = 60  # Framing.ask indexes every pool modulo its size


@dataclass(frozen=True)
class Framing:
    """One choice per dimension of :data:`DIMENSIONS` plus phrasing indices into the pools."""

    system: str
    layout: str
    order: str
    allowed: str
    context: str
    fields: str
    ask: int
    style: int = 0

    @property
    def name(self) -> str:
        return "/".join(self.dims().values())

    def dims(self) -> dict:
        return {k: getattr(self, k) for k in DIMENSIONS}


def draw_framing(rng: random.Random) -> Framing:
    """A framing with each dimension drawn uniformly from ``rng``."""
    return Framing(*(rng.choice(v) for v in DIMENSIONS.values()), rng.randrange(PHRASINGS), rng.randrange(PHRASINGS))


def _pick(pool, i: int):
    return pool[i % len(pool)]


def _allowed_text(fr: Framing, allowed: list[str]) -> str:
    k = fr.style % 4
    if fr.allowed == "json":
        return _pick(("Allowed actions: ", "Valid actions (JSON list): ", "Actions you may take: ", "Options = "), k) + json.dumps(allowed)
    if fr.allowed == "bullets":
        return _pick(("Possible actions:", "Pick one:", "You can:"), k) + "\n" + "\n".join(f"- {a}" for a in allowed)
    if fr.allowed == "slash":
        return _pick(("Action ({}).", "Choose: {}.", "Allowed: {}."), k).format("/".join(allowed))
    if k == 0:
        return "Pick exactly one action: " + ", ".join(f"`{a}`" for a in allowed[:-1]) + f" or `{allowed[-1]}`."
    if k == 1:
        return "Choose one of: " + " | ".join(allowed) + "."
    if k == 2:
        return "Your options are " + ", ".join(allowed[:-1]) + f" and {allowed[-1]}; take one."
    return "The action must be one of " + ", ".join(allowed) + "."


def render_prompt(fr: Framing, *, role: str, rig: str | None, formula: str, step: str, evidence: list,
                  allowed: list[str], guidance: str, now: str) -> list[dict]:
    """Messages up to the answer: ``[system?, user]``.

    Args:
        evidence: ``[(command, output)]``; guidance: the step's rule sentence(s) (extra context);
        now: RFC3339 clock shown in the extra-context section.
    """
    ask = _pick(_ASKS, fr.ask).format(step=step, formula=formula)
    if fr.layout == "markdown":
        ev = "\n\n".join(f"```\n$ {cmd}\n{out}\n```" for cmd, out in evidence)
    else:
        intro = _pick(_EVIDENCE_INTROS, fr.style) if fr.layout == "flow" else ""
        ev = (intro + "\n\n" if intro else "") + "\n\n".join(f"$ {cmd}\n{out}" for cmd, out in evidence)
    lead = []
    where = f" of rig {rig}" if rig else ""
    if fr.system == "inline":
        lead.append(("Role", role_card(role, rig)))
    elif fr.system == "none":
        line = _pick(_ROLE_LINES, fr.style // 3).format(role=role, where=where)
        if line:
            lead.append(("Role", line))
    context = [("Context", _pick(_CONTEXTS, fr.style // 2).format(now=now, guidance=guidance[:400]))] if fr.context == "extra" else []
    tail = [("Actions", _allowed_text(fr, allowed)), ("Answer format", _pick(_ANSWERS[fr.fields], fr.ask // 5))]
    task, evid = ("Task", ask), ("Evidence", ev)
    if fr.order == "task_first":
        parts = lead + [task] + context + [evid] + tail
    elif fr.order == "evidence_first":
        parts = lead + context + [evid, task] + tail
    else:
        parts = lead + context + [evid] + tail + [task]
    if fr.layout == "markdown":
        body = "\n\n".join(f"## {_pick(_TITLES[t], fr.style // 5)}\n{text}" for t, text in parts)
    elif fr.layout == "plain":
        body = "\n\n".join(text if t in ("Task", "Role") else f"{_pick(_TITLES[t], fr.style // 5)}:\n{text}"
                             for t, text in parts)
    else:
        body = "\n\n".join(text for _, text in parts)
    msgs = [{"role": "user", "content": body}]
    if fr.system == "card":
        msgs.insert(0, {"role": "system", "content": role_card(role, rig)})
    return msgs


def render_answer(fr: Framing, *, action: str, reason: str, target=None, bead=None, command=None,
                  confidence: float = 0.9) -> str:
    """The assistant's JSON answer; ``target`` for ``fields == "opt"`` when the case names one,
    every extended key for ``fields == "ext"``.

    ``reason`` comes first, whatever order the prompt lists the keys in: the action token is then
    decoded after the evidence has been named (a model that writes the action first falls back to
    the most frequent label; measured on the held-out split, issue 10).
    """
    obj = {"reason": reason, "action": action}
    if fr.fields == "opt" and target:
        obj["target"] = target
    if fr.fields == "ext":
        obj.update({"target": target, "bead": bead, "command": command, "confidence": round(confidence, 2)})
    return json.dumps(obj, ensure_ascii=False)
