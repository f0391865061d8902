"""Run eval tasks through any text generator and score them.

``generate(messages, json_schema_or_None) -> str`` is backend-agnostic (transformers,
llama-cpp, a fake in tests). A generator that sets ``last_hit_max_tokens`` (bool) after each call
(both :mod:`.backends` do) gets it recorded per case (``CaseResult.hit_max_tokens``; None when
unknown). With ``constrained=True`` the runner passes each structured
task's JSON schema; the backend decides how to constrain (:mod:`.backends`). Free-text
tasks always get ``None``.

Usage::

    from node0_ops.evals.runner import run_suite
    from node0_ops.evals.tasks import load_suite
    report = run_suite(my_generate, load_suite("v1"), constrained=False, model="smollm2@base")
    print(report.table())
"""

import time
import traceback
from collections.abc import Callable

from node0_ops.evals.checkers import run_checker
from node0_ops.evals.isolated import BackendDied
from node0_ops.evals.report import CaseResult, EvalReport
from node0_ops.evals.tasks import EvalTask

Generate = Callable[[list[dict], dict | None], str]


def _prompt_text(messages: list[dict]) -> str:
    users = [m.get("content") or "" for m in messages if m.get("role") in ("user", "tool")]
    return str(users[-1]) if users else ""


def run_task(generate: Generate, task: EvalTask, *, constrained: bool) -> CaseResult:
    """Generate one answer and check it. Generation and checker errors become failed cases
    (with the exception text in ``errors``), never exceptions.

    Raises:
        BackendDied: (and its :class:`~node0_ops.evals.isolated.BackendCrash`) the isolated
            backend's child process died; it is not a property of one case.
    """
    schema = task.json_schema if (constrained and task.structured) else None
    t0 = time.perf_counter()
    try:
        answer = generate(task.messages, schema)
        gen_error = None
        hit = getattr(generate, "last_hit_max_tokens", None)
    except BackendDied:  # the backend's process is gone (native crash): every later case would fail too
        raise
    except Exception as exc:  # a backend failure is a failed case, not a crashed run
        answer, gen_error, hit = "", f"generation failed: {type(exc).__name__}: {exc}", None
    latency = time.perf_counter() - t0
    if gen_error:
        passed, score, errors = False, 0.0, [gen_error]
    else:
        try:
            res = run_checker(task.checker, answer if isinstance(answer, str) else str(answer), task.checker_args)
            passed, score, errors = res.passed, res.score, res.errors
        except Exception as exc:
            passed, score = False, 0.0
            errors = [f"checker {task.checker} crashed: {type(exc).__name__}: {exc}",
                      traceback.format_exc(limit=2).strip().splitlines()[-1]]
    return CaseResult(task.task_id, task.category, task.role, passed, score, errors, answer,
                      _prompt_text(task.messages), round(latency, 3), schema is not None, task.source,
                      None if hit is None else bool(hit))


def run_suite(generate: Generate, tasks: list[EvalTask], *, constrained: bool, model: str = "", suite: str = "",
              on_case: Callable[[CaseResult], None] | None = None) -> EvalReport:
    """Run every task and collect an :class:`EvalReport`.

    Args:
        generate: ``(messages, json_schema_or_None) -> answer text``.
        tasks: tasks to run, in order.
        constrained: pass JSON schemas of structured tasks to ``generate``.
        model / suite: labels stored in the report.
        on_case: called after each case (progress output).
    """
    cases = []
    for task in tasks:
        case = run_task(generate, task, constrained=constrained)
        cases.append(case)
        if on_case:
            on_case(case)
    return EvalReport(model=model, suite=suite, constrained=constrained, cases=cases)


def rescore(report: EvalReport, tasks: list[EvalTask]) -> EvalReport:
    """Re-check the saved answers of ``report`` with the current checkers (no generation).

    Useful after a checker fix: the answers stay, verdicts are recomputed. Cases whose task
    id is not in ``tasks`` are dropped.
    """
    by_id = {t.task_id: t for t in tasks}
    cases = []
    for old in report.cases:
        task = by_id.get(old.task_id)
        if task is None:
            continue
        case = run_task(lambda messages, schema, a=old.answer: a, task, constrained=old.constrained)
        case.latency_s, case.hit_max_tokens = old.latency_s, old.hit_max_tokens
        cases.append(case)
    return EvalReport(model=report.model, suite=report.suite, constrained=report.constrained, cases=cases)


def run_suite_both(generate: Generate, tasks: list[EvalTask], *, model: str = "", suite: str = "",
                   on_case: Callable[[CaseResult], None] | None = None) -> tuple[EvalReport, EvalReport]:
    """Unconstrained run of all tasks plus a constrained run of the structured ones.

    Each structured task's constrained run comes right after its unconstrained run, so a
    backend that keeps its KV cache for an identical prompt (:class:`LlamaCppBackend` does)
    evaluates that prompt once for both.

    Returns:
        ``(unconstrained_report, constrained_report)``; the second holds only the
        structured tasks (free-text tasks would give identical answers).
    """
    off, on = [], []
    for task in tasks:
        off.append(run_task(generate, task, constrained=False))
        if on_case:
            on_case(off[-1])
        if task.structured:
            on.append(run_task(generate, task, constrained=True))
            if on_case:
                on_case(on[-1])
    return (EvalReport(model=model, suite=suite, constrained=False, cases=off),
            EvalReport(model=model, suite=suite, constrained=True, cases=on))
