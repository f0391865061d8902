"""Progressive-rollout configuration: which Gas Town roles may receive node0 models now.

Loaded from YAML/JSON by :func:`node0_ops.registry.rollout.load_rollout`; see that module for
the file lookup. Default: stage 1 of ``[[deacon, boot], [witness], [polecat], [crew]]``,
mayor blocked; roles no stage lists (refinery, dog) stay closed.

Usage::

    from node0_ops.registry.rollout_config import RolloutConfig
    RolloutConfig(stage=3).allows("polecat")      # (True, "role polecat open at stage 3 of 3 (default)")
"""

from dataclasses import dataclass, field

from node0_ops.corpus.schema import ROLES

DEFAULT_STAGES = (("deacon", "boot"), ("witness",), ("polecat",), ("crew",))
DEFAULT_BLOCKED = ("mayor",)


@dataclass
class RolloutConfig:
    """Which roles may receive node0 models now.

    Attributes:
        stage: number of open stages (1-based; 0 closes everything).
        stages: role groups in rollout order.
        blocked: roles never opened by stage (override only).
        source: file it came from, or ``"default"``.
    """

    stage: int = 1
    stages: list[list[str]] = field(default_factory=lambda: [list(s) for s in DEFAULT_STAGES])
    blocked: list[str] = field(default_factory=lambda: list(DEFAULT_BLOCKED))
    source: str = "default"

    def __post_init__(self) -> None:
        if isinstance(self.stage, bool) or not isinstance(self.stage, int) or not 0 <= self.stage <= len(self.stages):
            raise ValueError(f"{self.source}: stage={self.stage!r}: use an integer from 0 to {len(self.stages)} "
                             f"(number of open stages)")
        seen: set[str] = set()
        for i, group in enumerate(self.stages, 1):
            if not isinstance(group, list) or not group:
                raise ValueError(f"{self.source}: stages[{i}] must be a non-empty list of roles")
            for role in group:
                if role not in ROLES:
                    raise ValueError(f"{self.source}: stages[{i}]: unknown role {role!r}; use one of {ROLES}")
                if role in seen:
                    raise ValueError(f"{self.source}: role {role!r} appears in two stages; keep it in one")
                seen.add(role)
        for role in self.blocked:
            if role not in ROLES:
                raise ValueError(f"{self.source}: blocked: unknown role {role!r}; use one of {ROLES}")

    def stage_of(self, role: str) -> int | None:
        """1-based stage that opens ``role``, None when no stage lists it."""
        return next((i for i, g in enumerate(self.stages, 1) if role in g), None)

    def open_roles(self) -> list[str]:
        """Roles open now (in stages ``1..stage``, minus blocked)."""
        return [r for g in self.stages[:self.stage] for r in g if r not in self.blocked]

    def allows(self, role: str) -> tuple[bool, str]:
        """``(open?, reason)`` for deploying a model for ``role``."""
        if role in self.blocked:
            return False, f"role {role} is blocked in the rollout ({self.source})"
        n = self.stage_of(role)
        if n is None:
            return False, f"role {role} is in no rollout stage ({self.source}); add it to `stages`"
        if n > self.stage:
            return False, (f"role {role} opens at rollout stage {n}, current stage is {self.stage} ({self.source}); "
                           f"raise `stage` when stages 1..{n - 1} are healthy")
        return True, f"role {role} opens at stage {n}; rollout is at stage {self.stage} ({self.source})"

    def to_dict(self) -> dict:
        return {"stage": self.stage, "stages": self.stages, "blocked": self.blocked, "source": self.source,
                "open": self.open_roles()}
