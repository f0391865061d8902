"""Eval reports: per-case results, scores per category / role / overall, failing cases
kept with prompt, answer and errors; markdown tables; side-by-side comparison.

Usage::

    from node0_ops.evals.report import EvalReport, compare
    print(report.table())
    print(compare(base_report, candidate_report))
    EvalReport.from_json(report.to_json())
"""

import json
from dataclasses import asdict, dataclass, field


@dataclass
class CaseResult:
    """One task's outcome.

    Attributes:
        task_id, category, role: from the task.  passed / score: checker verdict, score in [0, 1].
        errors: checker messages.  answer: raw model text.  prompt: last user message.
        latency_s: generation time in seconds.  constrained: a JSON schema was passed.
        source: ``suite:<version>`` or ``corpus``.
        hit_max_tokens: the answer was cut at the generation budget (the model did not stop);
            None when the backend does not say.
    """

    task_id: str
    category: str
    role: str
    passed: bool
    score: float
    errors: list[str]
    answer: str
    prompt: str
    latency_s: float
    constrained: bool = False
    source: str = ""
    hit_max_tokens: bool | None = None


@dataclass(frozen=True)
class Score:
    """Aggregate over cases: ``n`` cases, ``passed`` count, ``rate`` = passed/n, ``mean_score``,
    ``hit_max_tokens`` = answers cut at the generation budget (None when no case knows)."""

    n: int
    passed: int
    rate: float
    mean_score: float
    hit_max_tokens: int | None = None


def _score(cases: list[CaseResult]) -> Score:
    n = len(cases)
    p = sum(c.passed for c in cases)
    known = [c.hit_max_tokens for c in cases if c.hit_max_tokens is not None]
    return Score(n, p, round(p / n, 4) if n else 0.0, round(sum(c.score for c in cases) / n, 4) if n else 0.0,
                 sum(known) if known else None)


@dataclass
class EvalReport:
    """All case results of one run of one model on one suite.

    ``meta``: how the answers were produced (backend, model file, llama.cpp settings such as
    ``use_extra_bufts``); JSON-ready, kept through ``to_dict``/``from_dict``.
    """

    model: str
    suite: str
    constrained: bool
    cases: list[CaseResult] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def overall(self) -> Score:
        return _score(self.cases)

    def _group(self, key: str) -> dict[str, Score]:
        names = sorted({getattr(c, key) for c in self.cases})
        return {n: _score([c for c in self.cases if getattr(c, key) == n]) for n in names}

    @property
    def by_category(self) -> dict[str, Score]:
        return self._group("category")

    @property
    def by_role(self) -> dict[str, Score]:
        return self._group("role")

    def subset(self, *, role: str | None = None, category: str | None = None) -> Score:
        """Score over the cases of one role and/or category."""
        return _score([c for c in self.cases if (role is None or c.role == role) and (category is None or c.category == category)])

    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    def to_dict(self) -> dict:
        return {"model": self.model, "suite": self.suite, "constrained": self.constrained,
                "overall": asdict(self.overall),
                "by_category": {k: asdict(v) for k, v in self.by_category.items()},
                "by_role": {k: asdict(v) for k, v in self.by_role.items()},
                "cases": [asdict(c) for c in self.cases], "meta": self.meta}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> "EvalReport":
        return cls(d.get("model", ""), d.get("suite", ""), bool(d.get("constrained")),
                   [CaseResult(**c) for c in d.get("cases", [])], dict(d.get("meta") or {}))

    @classmethod
    def from_json(cls, text: str) -> "EvalReport":
        return cls.from_dict(json.loads(text))

    def table(self, *, failures: int = 5) -> str:
        """Markdown: overall, per category, per role (pass counts, rates, answers that hit
        ``max_tokens``); then up to ``failures`` failing cases."""
        mode = "constrained" if self.constrained else "unconstrained"
        lines = [f"### {self.model or 'model'} on {self.suite or 'suite'} ({mode})", "",
                 "| group | name | passed | n | pass rate | mean score | hit max_tokens |", "|---|---|---|---|---|---|---|"]
        rows = [("overall", "all", self.overall)]
        rows += [("category", k, v) for k, v in self.by_category.items()]
        rows += [("role", k, v) for k, v in self.by_role.items()]
        for group, name, s in rows:
            hit = "-" if s.hit_max_tokens is None else s.hit_max_tokens
            lines.append(f"| {group} | {name} | {s.passed} | {s.n} | {s.rate:.2f} | {s.mean_score:.2f} | {hit} |")
        fails = self.failures()
        if fails and failures:
            lines += ["", f"Failing cases ({len(fails)}; first {min(failures, len(fails))}):"]
            for c in fails[:failures]:
                answer = c.answer.strip().replace("\n", " ")[:160]
                lines.append(f"- `{c.task_id}` [{c.category}/{c.role}]: {'; '.join(c.errors)[:240]} | answer: {answer!r}")
        return "\n".join(lines)


def compare(base: EvalReport, candidate: EvalReport) -> str:
    """Side-by-side markdown table of two reports (pass rates and deltas), plus the cases
    that flipped (regressions first)."""
    lines = [f"| group | name | {base.model or 'base'} | {candidate.model or 'candidate'} | delta |", "|---|---|---|---|---|"]

    def row(group: str, name: str, a, b) -> None:
        ra = f"{a.rate:.2f} ({a.passed}/{a.n})" if a and a.n else "-"
        rb = f"{b.rate:.2f} ({b.passed}/{b.n})" if b and b.n else "-"
        delta = f"{b.rate - a.rate:+.2f}" if a and b and a.n and b.n else "-"
        lines.append(f"| {group} | {name} | {ra} | {rb} | {delta} |")

    row("overall", "all", base.overall, candidate.overall)
    for group, attr in (("category", "by_category"), ("role", "by_role")):
        ga, gb = getattr(base, attr), getattr(candidate, attr)
        for name in sorted(set(ga) | set(gb)):
            row(group, name, ga.get(name), gb.get(name))
    a_cases = {c.task_id: c for c in base.cases}
    regress = [c.task_id for c in candidate.cases if c.task_id in a_cases and a_cases[c.task_id].passed and not c.passed]
    fixed = [c.task_id for c in candidate.cases if c.task_id in a_cases and not a_cases[c.task_id].passed and c.passed]
    if regress:
        lines += ["", f"Regressions ({len(regress)}): " + ", ".join(regress)]
    if fixed:
        lines += ["", f"Fixed ({len(fixed)}): " + ", ".join(fixed)]
    return "\n".join(lines)
