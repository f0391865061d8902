"""Deployment gate: pass-rate thresholds per role and category (``EvalThresholds``).

YAML shape (all keys optional; rates are fractions in [0, 1])::

    overall: 0.5            # pass rate over every case
    min_cases: 3            # groups with fewer cases are not gated (too noisy)
    categories:             # pass rate per category, all roles
      bead-management: 0.6
      conventions: 0.8
    roles:                  # pass rate over the cases of that role
      polecat: 0.6
    role_categories:        # per role, overriding ``categories`` when gating that role
      witness: {patrol-decision: 0.7}
    max_regression: 0.05    # allowed drop vs a base report, per gated group (None: off)
    shared_categories:      # categories every role model is gated on, whoever's tasks they are
      [conventions, bead-management]

A role model is gated on its own role's tasks plus the shared categories, never on another
role's work (:meth:`EvalThresholds.gate_tasks`).

Usage::

    from node0_ops.evals.eval_config import EvalThresholds
    th = EvalThresholds.from_yaml("thresholds.yaml")
    ok, reasons = th.passes(report, "polecat", base=previous_report)
"""

from dataclasses import dataclass, field
from pathlib import Path

from node0_ops.corpus.schema import ROLES, TASKS
from node0_ops.evals.report import EvalReport
from node0_ops.evals.tasks import CATEGORIES

DEFAULT_THRESHOLDS = Path(__file__).resolve().parent / "suite" / "thresholds.yaml"


def _check_rate(where: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{where}={value!r}: use a pass-rate fraction between 0.0 and 1.0 (e.g. 0.6 for 60%)")


@dataclass
class EvalThresholds:
    """Pass-rate thresholds that gate a model's deployment.

    Attributes:
        overall: minimum pass rate over all cases.
        categories: category -> minimum pass rate (all roles).
        roles: role -> minimum pass rate over that role's cases.
        role_categories: role -> {category -> rate}, overriding ``categories`` for that role.
        min_cases: groups with fewer cases are reported but not gated.
        max_regression: largest allowed pass-rate drop vs a base report (None: not checked).
        shared_categories: categories gated for every role (the town core: conventions and
            ``bd``/``gt`` syntax); all other tasks count only for their own role.
    """

    overall: float = 0.5
    categories: dict[str, float] = field(default_factory=dict)
    roles: dict[str, float] = field(default_factory=dict)
    role_categories: dict[str, dict[str, float]] = field(default_factory=dict)
    min_cases: int = 3
    max_regression: float | None = None
    shared_categories: list[str] = field(default_factory=lambda: ["conventions", "bead-management"])

    def __post_init__(self) -> None:
        known_categories = set(CATEGORIES) | set(TASKS)
        if not isinstance(self.shared_categories, (list, tuple)):
            raise ValueError(f"shared_categories={self.shared_categories!r}: use a list of categories, e.g. [conventions]")
        for name in self.shared_categories:
            if name not in known_categories:
                raise ValueError(f"shared_categories: {name!r} is not a category; use some of {sorted(known_categories)}")
        _check_rate("overall", self.overall)
        for name, rate in self.categories.items():
            if name not in known_categories:
                raise ValueError(f"categories.{name}: unknown category; use one of {sorted(known_categories)}")
            _check_rate(f"categories.{name}", rate)
        for role, rate in self.roles.items():
            if role not in ROLES:
                raise ValueError(f"roles.{role}: unknown role; use one of {ROLES}")
            _check_rate(f"roles.{role}", rate)
        for role, cats in self.role_categories.items():
            if role not in ROLES:
                raise ValueError(f"role_categories.{role}: unknown role; use one of {ROLES}")
            if not isinstance(cats, dict):
                raise ValueError(f"role_categories.{role}: must map category -> rate, got {type(cats).__name__}")
            for name, rate in cats.items():
                if name not in known_categories:
                    raise ValueError(f"role_categories.{role}.{name}: unknown category; use one of {sorted(known_categories)}")
                _check_rate(f"role_categories.{role}.{name}", rate)
        if isinstance(self.min_cases, bool) or not isinstance(self.min_cases, int) or self.min_cases < 1:
            raise ValueError(f"min_cases={self.min_cases!r}: use an integer >= 1 (smallest group size that is gated)")
        if self.max_regression is not None:
            _check_rate("max_regression", self.max_regression)

    @classmethod
    def from_dict(cls, d: dict | None) -> "EvalThresholds":
        """Build from a mapping.

        Raises:
            ValueError: unknown keys or bad values (the message names the key).
        """
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown threshold keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_THRESHOLDS) -> "EvalThresholds":
        """Load from YAML (default: the packaged ``suite/thresholds.yaml``).

        Raises:
            ValueError: naming the file when it is not a mapping or has bad values.
        """
        import yaml

        data = yaml.safe_load(Path(path).read_text())
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"{path}: thresholds file must be a YAML mapping, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def gate_tasks(self, tasks: list, role: str) -> list:
        """The tasks a ``role`` model is gated on: its own role's tasks plus the shared categories.

        Raises:
            ValueError: when ``role`` is not a Gas Town role.
        """
        if role not in ROLES:
            raise ValueError(f"role {role!r} not one of {ROLES}")
        shared = set(self.shared_categories)
        return [t for t in tasks if t.role == role or t.category in shared]

    def passes(self, report: EvalReport, role: str, base: EvalReport | None = None) -> tuple[bool, list[str]]:
        """Gate ``report`` for a model serving ``role``.

        Checks the overall rate, the role's rate (cases with that role), each category
        threshold (``role_categories[role]`` over ``categories``) and, with ``base`` and
        ``max_regression``, that no gated group dropped more than allowed.

        Returns:
            ``(ok, reasons)``: reasons name every failed gate (and skipped small groups).

        Raises:
            ValueError: when ``role`` is not a Gas Town role.
        """
        if role not in ROLES:
            raise ValueError(f"role {role!r} not one of {ROLES}")
        reasons: list[str] = []
        ok = True

        def gate(label: str, score, need: float, base_score=None) -> None:
            nonlocal ok
            if score.n < self.min_cases:
                reasons.append(f"{label}: not gated ({score.n} case(s) < min_cases={self.min_cases})")
                return
            if score.rate < need:
                ok = False
                reasons.append(f"{label}: pass rate {score.rate:.2f} ({score.passed}/{score.n}) below {need:.2f}")
            if base_score is not None and self.max_regression is not None and base_score.n >= self.min_cases:
                drop = base_score.rate - score.rate
                if drop > self.max_regression:
                    ok = False
                    reasons.append(f"{label}: regressed {drop:.2f} vs base ({base_score.rate:.2f} -> {score.rate:.2f}), "
                                   f"max {self.max_regression:.2f}")

        gate("overall", report.overall, self.overall, base.overall if base else None)
        if role in self.roles:
            gate(f"role {role}", report.subset(role=role), self.roles[role], base.subset(role=role) if base else None)
        cats = {**self.categories, **self.role_categories.get(role, {})}
        for name, need in sorted(cats.items()):
            gate(f"category {name}", report.subset(category=name), need, base.subset(category=name) if base else None)
        return ok, reasons
