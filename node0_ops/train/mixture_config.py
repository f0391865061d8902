"""Data mixture of a role adapter: a shared town-core mixture plus the role's own data up-weighted.

A role adapter trained on its own role's rows alone starves (deacon had 36 examples, boot 17):
every role model also needs the town's common ground (conventions, ``bd``/``gt`` syntax, git
workflow). Weights follow the usual multi-source SFT recipe (per-source sampling weights, as in
Axolotl's dataset mixing / the FLAN collection's mixture rates): an example of weight ``w``
appears ``floor(w)`` times plus once more with probability ``w - floor(w)`` (seeded).

Usage::

    cfg = MixtureConfig(role_weight=3.0, core_tasks=("conventions", "bead-management", "git-workflow"))
    rows, report = build_mixture(all_train_rows, "deacon", cfg)
    report.counts       # {"deacon/patrol-decision": 1800, "core/conventions": 240, ...}
"""

import random
from collections import Counter
from dataclasses import asdict, dataclass, field

from node0_ops.corpus.schema import ROLES, TASKS


@dataclass
class MixtureConfig:
    """How a role adapter's training rows are drawn from the whole corpus version."""

    core_tasks: tuple = field(default=("conventions", "bead-management", "git-workflow"), metadata={
        "help": "tasks every role trains on, whichever role's rows they come from (the town core)"})
    role_weight: float = field(default=2.0, metadata={"help": "sampling weight of the role's own examples (any task)"})
    core_weight: float = field(default=0.5, metadata={"help": "sampling weight of other roles' town-core examples"})
    task_weights: dict = field(default_factory=lambda: {"patrol-decision": 1.5}, metadata={
        "help": "extra per-task multipliers on top of role/core weight, e.g. {patrol-decision: 2}"})
    origin_weights: dict = field(default_factory=lambda: {"beads": 0.35}, metadata={
        "help": "extra per-origin multipliers, e.g. {beads: 0.35}: the real-beads `bd create` rows are many and "
                "long, and would crowd out the verified command tasks (origin `commands`)"})
    max_examples: int = field(default=0, metadata={"help": "cap on mixture rows after weighting (0 = no cap)"})
    seed: int = field(default=0, metadata={"help": "seed of the fractional-weight draws and the cap's sample"})

    def __post_init__(self) -> None:
        self.core_tasks = tuple(self.core_tasks)
        bad = [t for t in self.core_tasks if t not in TASKS]
        if bad:
            raise ValueError(f"mixture.core_tasks: {bad[0]!r} is not a task; use some of {', '.join(TASKS)}")
        for name in ("role_weight", "core_weight"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                raise ValueError(f"mixture.{name}={getattr(self, name)!r} must be a number >= 0 (0 drops those rows)")
        if self.role_weight == 0 and self.core_weight == 0:
            raise ValueError("mixture: role_weight and core_weight are both 0, nothing would be trained; set role_weight: 1")
        if not isinstance(self.task_weights, dict):
            raise ValueError("mixture.task_weights must be a mapping task -> weight, e.g. {patrol-decision: 2}")
        for t, w in self.task_weights.items():
            if t not in TASKS or not isinstance(w, (int, float)) or w < 0:
                raise ValueError(f"mixture.task_weights[{t!r}]={w!r}: the key must be one of {', '.join(TASKS)} "
                                 "and the weight a number >= 0")
        if not isinstance(self.origin_weights, dict) or not all(
                isinstance(w, (int, float)) and w >= 0 for w in self.origin_weights.values()):
            raise ValueError(f"mixture.origin_weights={self.origin_weights!r} must map origin -> weight >= 0, "
                             "e.g. {beads: 0.35}")
        if not isinstance(self.max_examples, int) or self.max_examples < 0:
            raise ValueError(f"mixture.max_examples={self.max_examples!r} must be an int >= 0 (0 = no cap)")

    @classmethod
    def from_dict(cls, d: dict | None) -> "MixtureConfig":
        """From a ``resources.yaml`` mapping; unknown keys raise ``ValueError`` naming the known ones."""
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"mixture.{bad[0]} is not a setting; mixture has {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["core_tasks"] = list(self.core_tasks)
        return d


@dataclass
class MixtureReport:
    """What a mixture holds: ``counts["<role>/<task>"]`` for the role's own rows and
    ``counts["core/<task>"]`` for other roles' town-core rows (repeats counted), plus the
    distinct examples used per group and the config that made it (lineage)."""

    role: str
    counts: dict
    distinct: dict
    n_rows: int
    config: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _group(row: dict, role: str, cfg: MixtureConfig) -> str | None:
    if row.get("role") == role:
        return f"{role}/{row.get('task')}"
    if row.get("task") in cfg.core_tasks:
        return f"core/{row.get('task')}"
    return None


def build_mixture(rows: list[dict], role: str, cfg: MixtureConfig | None = None) -> tuple[list[dict], MixtureReport]:
    """Weighted training rows of ``role`` from every role's example rows of one split.

    Args:
        rows: example dicts with ``role``, ``task``, ``origin`` and ``example_id`` (``store.load_examples``).
        role: one of :data:`node0_ops.corpus.schema.ROLES`.
        cfg: weights (default :class:`MixtureConfig`).

    Returns:
        ``(mixture_rows, report)``; rows are shuffled (seeded), repeats are the same dict.

    Raises:
        ValueError: unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    cfg = cfg or MixtureConfig()
    rng = random.Random(f"mixture:{role}:{cfg.seed}")
    out, counts, distinct = [], Counter(), Counter()
    for row in sorted(rows, key=lambda r: str(r.get("example_id"))):
        group = _group(row, role, cfg)
        if group is None:
            continue
        w = (cfg.role_weight if group.startswith(f"{role}/") else cfg.core_weight) * cfg.task_weights.get(row.get("task"), 1.0)
        w *= cfg.origin_weights.get(row.get("origin"), 1.0)
        n = int(w) + (1 if rng.random() < w - int(w) else 0)
        if n:
            out += [row] * n
            counts[group] += n
            distinct[group] += 1
    rng.shuffle(out)
    if cfg.max_examples and len(out) > cfg.max_examples:
        out = out[: cfg.max_examples]
        counts = Counter(_group(r, role, cfg) for r in out)
        distinct = Counter(_group(r, role, cfg) for r in {id(r): r for r in out}.values())
    return out, MixtureReport(role, dict(sorted(counts.items())), dict(sorted(distinct.items())), len(out), cfg.to_dict())
