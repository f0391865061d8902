"""Turn a :class:`Draft` into chat messages in one of several framings (prompt robustness).

Framings (``meta["framing"]``):

- ``card``: the role card (:func:`examples_common.role_card`) as system, the request as user;
- ``inline``: a neutral system line; the user turn carries who you are plus the request;
- ``sections``: a neutral system line; the user turn in markdown sections (role, situation,
  request, reply format);
- ``bare``: no system turn; one user message with an optional who-you-are line, the situation,
  the request and the reply format.

Reply-format asks (``meta["answer_format"]``): ``bash`` (commands in a ```bash block),
``lines`` (one command per line, nothing else) or ``none``. The answer is always the exact
commands in one ```bash block (what :func:`node0_ops.evals.answers.extract_commands` parses),
preceded by a one-line lead unless the request asked for commands only.
"""

import random

from node0_ops.corpus.examples_commands.draft import Draft
from node0_ops.corpus.examples_common import ROLE_DUTIES, assistant, role_card, system, user

NEUTRAL_SYSTEM = ("You operate inside a Gas Town workspace. Answer with the exact bd and gt commands "
                  "that do what is asked.")
FORMAT_ASKS = {
    "bash": ("Give the commands in a ```bash block.", "Reply with a bash code block.",
             "Put the command(s) in a fenced bash block."),
    "lines": ("Only the commands, one per line.", "Commands only, one per line, no explanation."),
    "none": ("",),
}
FRAMINGS = ("card", "inline", "sections", "bare")


def render_answer(commands: list[str], lead: str = "") -> str:
    """The assistant reply: optional ``lead`` line, then the commands in one ```bash block."""
    block = "```bash\n" + "\n".join(commands) + "\n```"
    return f"{lead}\n\n{block}" if lead else block


def frame(draft: Draft, rng: random.Random) -> tuple[list[dict], dict]:
    """``(messages, framing_meta)`` for ``draft``: system + user + assistant (OpenAI shape)."""
    framing = rng.choice(FRAMINGS)
    fmt = rng.choice(("bash", "bash", "lines", "none"))
    ask = rng.choice(FORMAT_ASKS[fmt])
    where = f" in rig {draft.rig}" if draft.rig else ""
    if framing == "card":
        body = " ".join(x for x in (draft.context, draft.request) if x)
        if draft.context and rng.random() < 0.5:
            body = f"{draft.request}\n{draft.context}"
        msgs = [system(role_card(draft.role, draft.rig)), user(f"{body}\n\n{ask}".strip())]
    elif framing == "inline":
        who = rng.choice([f"You are the {draft.role}{where}.", f"Acting as the Gas Town {draft.role}{where}:"])
        text = " ".join(p for p in (who, draft.context, draft.request) if p)
        sep = "\n\n" if "\n" in draft.request else " "
        msgs = [system(NEUTRAL_SYSTEM), user(f"{text}{sep}{ask}".strip())]
    elif framing == "bare":
        who = rng.choice(["", f"You are the {draft.role}{where}.", f"({draft.role}{where})",
                          f"You are the {draft.role}{where}: {ROLE_DUTIES[draft.role]}."])
        parts = [p for p in (who, draft.context, draft.request, ask) if p]
        msgs = [user(rng.choice(["\n\n", "\n", " "]).join(parts))]
    else:
        parts = [f"## Role\n{draft.role}{where}: {ROLE_DUTIES[draft.role]}."]
        if draft.context:
            parts.append(f"## Situation\n{draft.context}")
        parts.append(f"## Request\n{draft.request}")
        if ask:
            parts.append(f"## Reply format\n{ask}")
        msgs = [system(NEUTRAL_SYSTEM), user("\n\n".join(parts))]
    lead = "" if fmt == "lines" or rng.random() < 0.3 else draft.lead
    msgs.append(assistant(render_answer(draft.commands, lead)))
    return msgs, {"framing": framing, "answer_format": fmt}
