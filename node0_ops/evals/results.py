"""Result types shared by the checks: :class:`CheckResult` and :class:`Violation`."""

from dataclasses import asdict, dataclass, field


@dataclass
class CheckResult:
    """Outcome of one check.

    Attributes:
        passed: the answer is acceptable.  score: partial credit in [0, 1].
        errors: what is wrong (empty when passed).  details: check-specific data.
    """

    passed: bool
    score: float
    errors: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Violation:
    """A command that breaks a convention: ``rule`` id, offending ``command`` text, ``message``."""

    rule: str
    command: str
    message: str
