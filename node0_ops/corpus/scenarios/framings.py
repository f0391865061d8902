"""Prompt framings for one patrol decision (prompt robustness, issue 10 item 2).

Five independent dimensions, drawn per example from a seeded RNG:

- ``system``: ``card`` (system role card + user turn with the evidence) or ``none`` (one user
  message carrying the whole prompt);
- ``layout``: ``markdown`` (``##`` sections, fenced output) or ``plain`` (labelled paragraphs, ``$`` lines);
- ``allowed``: ``json`` (a JSON list) or ``prose`` ("one of a, b or c");
- ``context``: ``extra`` (an extra-context section: the step's guidance and the clock) or ``bare``;
- ``fields``: ``min`` (answer ``{"action", "reason"}``) or ``ext`` (also ``target``, ``bead``,
  ``command``, ``confidence``, which the prompt then asks for).

The chat shape is OpenAI ``messages``; the answer is one JSON object (the shape the
``patrol_decision`` checker in ``node0_ops/evals/checks.py`` parses).

Usage::

    from node0_ops.corpus.scenarios.framings import draw_framing, render_prompt, render_answer
    fr = draw_framing(rng); msgs = render_prompt(fr, ...) + [assistant(render_answer(fr, ...))]
"""

import json
import random
from dataclasses import dataclass

from node0_ops.corpus.examples_common import role_card

DIMENSIONS = {"system": ("card", "none"), "layout": ("markdown", "plain"), "allowed": ("json", "prose"),
              "context": ("extra", "bare"), "fields": ("min", "ext")}

_ASKS = ("You are on step `{step}` of `{formula}`. From the output below, decide what to do now.",
         "Patrol step `{step}` ({formula}). Read the evidence and pick the next action.",
         "Here is what the `{step}` step of {formula} turned up. What is the right move?",
         "Decide the action for step {step} of the {formula} formula, using only the evidence shown.")


@dataclass(frozen=True)
class Framing:
    """One choice per dimension of :data:`DIMENSIONS` plus a phrasing index."""

    system: str
    layout: str
    allowed: str
    context: str
    fields: str
    ask: int

    @property
    def name(self) -> str:
        return f"{self.system}/{self.layout}/{self.allowed}/{self.context}/{self.fields}"

    def dims(self) -> dict:
        return {"system": self.system, "layout": self.layout, "allowed": self.allowed,
                "context": self.context, "fields": self.fields}


def draw_framing(rng: random.Random) -> Framing:
    """A framing with each dimension drawn uniformly from ``rng``."""
    return Framing(*(rng.choice(v) for v in DIMENSIONS.values()), rng.randrange(len(_ASKS)))


def _allowed_text(fr: Framing, allowed: list[str]) -> str:
    k = fr.ask % 2
    if fr.allowed == "json":
        return ("Allowed actions: " if k == 0 else "Valid actions (JSON list): ") + json.dumps(allowed)
    if k == 0:
        return "Pick exactly one action: " + ", ".join(f"`{a}`" for a in allowed[:-1]) + f" or `{allowed[-1]}`."
    return "Choose one of: " + " | ".join(allowed) + "."


def _answer_text(fr: Framing) -> str:
    if fr.fields == "min":
        return ('Answer with one JSON object and nothing else: {"action": <one allowed action>, '
                '"reason": <one sentence naming the evidence>}.')
    return ('Answer with one JSON object and nothing else, with keys "action" (one allowed action), "reason" '
            '(one sentence naming the evidence), "target" (the agent address it concerns, or null), "bead" '
            '(the bead or MR id, or null), "command" (the gt/bd command you would run, or null) and '
            '"confidence" (0 to 1).')


def render_prompt(fr: Framing, *, role: str, rig: str | None, formula: str, step: str, evidence: list,
                  allowed: list[str], guidance: str, now: str) -> list[dict]:
    """Messages up to the answer: ``[system?, user]``.

    Args:
        evidence: ``[(command, output)]``; guidance: the step's rule sentence(s) (extra context);
        now: RFC3339 clock shown in the extra-context section.
    """
    ask = _ASKS[fr.ask].format(step=step, formula=formula)
    md = fr.layout == "markdown"
    if md:
        ev = "\n\n".join(f"```\n$ {cmd}\n{out}\n```" for cmd, out in evidence)
    else:
        ev = "\n\n".join(f"$ {cmd}\n{out}" for cmd, out in evidence)
    parts = []
    if fr.system == "none":
        where = f" of rig {rig}" if rig else ""
        parts.append(("Role", f"You are the Gas Town {role}{where}."))
    parts.append(("Task", ask))
    if fr.context == "extra":
        parts.append(("Context", f"Time now: {now}\nStep guidance: {guidance[:400]}"))
    parts.append(("Evidence", ev))
    parts.append(("Actions", _allowed_text(fr, allowed)))
    parts.append(("Answer format", _answer_text(fr)))
    if md:
        body = "\n\n".join(f"## {title}\n{text}" for title, text in parts)
    else:
        body = "\n\n".join(text if title in ("Task", "Role") else f"{title}:\n{text}" for title, text in parts)
    msgs = [{"role": "user", "content": body}]
    if fr.system == "card":
        msgs.insert(0, {"role": "system", "content": role_card(role, rig)})
    return msgs


def render_answer(fr: Framing, *, action: str, reason: str, target=None, bead=None, command=None,
                  confidence: float = 0.9) -> str:
    """The assistant's JSON answer; extended keys only for ``fields == "ext"``.

    ``reason`` comes first, whatever order the prompt lists the keys in: the action token is then
    decoded after the evidence has been named (a model that writes the action first falls back to
    the most frequent label; measured on the held-out split, issue 10).
    """
    obj = {"reason": reason, "action": action}
    if fr.fields == "ext":
        obj.update({"target": target, "bead": bead, "command": command, "confidence": round(confidence, 2)})
    return json.dumps(obj, ensure_ascii=False)
