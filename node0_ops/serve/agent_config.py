"""Configuration of the terminal agent (:mod:`node0_ops.serve.agent`).

Usage::

    cfg = AgentConfig(role="polecat", work_tree="/home/me/gt/gastown/polecats/toast", max_steps=6)
"""

import os
from dataclasses import dataclass, field

from node0_ops.corpus.schema import ROLES
from node0_ops.serve.prime import DEFAULT_BUDGET

PROMPT = "node0> "
PRIMES = ("compact", "full")


@dataclass
class AgentConfig:
    """Terminal agent settings.

    Attributes:
        role: Gas Town role (card, directives and retrieval filter).
        work_tree: where commands run and the only place ``rm -rf`` may touch (default: cwd).
        max_steps: model calls per user turn (each may propose commands) before the agent stops.
        command_timeout_s: wall-clock limit of one command; its process group is killed after it.
        output_chars: command output kept for the model and the transcript (head and tail).
        extra_allowed: programs allowed besides gt/bd/git and read-only tools (``--allow``).
        use_rag: retrieve town context per turn (chromadb); False = role card and directives only.
        budget_tokens: token budget of the per-turn context.
        prompt: the ready prompt printed before reading a line (tmux ``ready_prompt_prefix``).
        prime: what a ``gt prime`` the model asks for does (Gas Town's nudges and its startup fallback for
            agents without hooks say "Run 'gt prime'"): ``compact`` answers it with the compact prime
            (``node0-inference prime --role ROLE``, already the system context) instead of loading the full
            one; ``full`` runs ``gt prime`` like any other command.
    """

    role: str = "polecat"
    work_tree: str = field(default_factory=os.getcwd)
    max_steps: int = 8
    command_timeout_s: float = 60.0
    output_chars: int = 4000
    extra_allowed: tuple[str, ...] = ()
    use_rag: bool = True
    budget_tokens: int = DEFAULT_BUDGET
    prompt: str = PROMPT
    prime: str = "compact"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role={self.role!r}: use one of {', '.join(ROLES)} (or set GT_ROLE)")
        if not isinstance(self.max_steps, int) or not 1 <= self.max_steps <= 100:
            raise ValueError(f"max_steps={self.max_steps!r}: use 1..100 model calls per turn (default 8)")
        if not self.command_timeout_s or self.command_timeout_s <= 0:
            raise ValueError(f"command_timeout_s={self.command_timeout_s!r}: use a positive number of seconds")
        if not isinstance(self.output_chars, int) or self.output_chars < 200:
            raise ValueError(f"output_chars={self.output_chars!r}: keep at least 200 characters of command output")
        if not isinstance(self.budget_tokens, int) or self.budget_tokens < 200:
            raise ValueError(f"budget_tokens={self.budget_tokens!r}: use at least 200 tokens for the context")
        if self.prime not in PRIMES:
            raise ValueError(f"prime={self.prime!r}: use compact (node0-inference prime --role ROLE) "
                             "or full (gt prime)")
        self.work_tree = os.path.abspath(self.work_tree)
        if not os.path.isdir(self.work_tree):
            raise ValueError(f"work_tree={self.work_tree!r} is not a folder")
        self.extra_allowed = tuple(self.extra_allowed)
