"""run_suite with fake generators, EvalReport aggregation/serialisation, compare, thresholds."""

import pytest

from node0_ops.evals.eval_config import DEFAULT_THRESHOLDS, EvalThresholds
from node0_ops.evals.report import CaseResult, EvalReport, compare
from node0_ops.evals.runner import run_suite, run_suite_both
from node0_ops.evals.tasks import load_suite

TASKS = [t for t in load_suite("v1") if t.checker != "code_exec"]  # keep the runner tests fast


def _oracle(tasks):
    by_prompt = {t.messages[-1]["content"]: t for t in tasks}

    def generate(messages, schema):
        return by_prompt[messages[-1]["content"]].reference
    return generate


def test_reference_generator_scores_perfectly():
    rep = run_suite(_oracle(TASKS), TASKS, constrained=False, model="oracle", suite="v1")
    assert rep.overall.n == len(TASKS) and rep.overall.rate == 1.0
    assert set(rep.by_category) == {t.category for t in TASKS}
    assert all(s.rate == 1.0 for s in rep.by_role.values())
    assert rep.failures() == []


def test_negatives_generator_scores_zero_and_keeps_failures():
    by_prompt = {t.messages[-1]["content"]: t for t in TASKS}
    rep = run_suite(lambda m, s: by_prompt[m[-1]["content"]].negatives[0], TASKS, constrained=False)
    assert rep.overall.passed == 0
    fail = rep.failures()[0]
    assert fail.errors and fail.prompt and fail.answer


def test_schema_only_passed_when_constrained_and_structured():
    seen = []

    def gen(messages, schema):
        seen.append(schema)
        return ""
    run_suite(gen, TASKS, constrained=False)
    assert all(s is None for s in seen)
    seen.clear()
    run_suite(gen, TASKS, constrained=True)
    assert [s is not None for s in seen] == [t.structured for t in TASKS]


def test_generation_errors_become_failed_cases():
    def boom(messages, schema):
        raise RuntimeError("backend died")
    rep = run_suite(boom, TASKS[:3], constrained=False)
    assert rep.overall.passed == 0 and "generation failed: RuntimeError: backend died" in rep.cases[0].errors[0]


def test_run_suite_both_splits_structured():
    off, on = run_suite_both(_oracle(TASKS), TASKS)
    assert off.overall.n == len(TASKS) and not off.constrained
    assert on.constrained and {c.task_id for c in on.cases} == {t.task_id for t in TASKS if t.structured}
    assert all(c.constrained for c in on.cases)



def test_run_suite_both_runs_each_constrained_case_right_after_its_prompt():
    calls = []

    def generate(messages, schema):
        calls.append((messages[-1]["content"], schema is not None))
        return "{}"
    run_suite_both(generate, TASKS)
    prompts = [p for p, _ in calls]
    for i, (prompt, constrained) in enumerate(calls):
        if constrained:   # the KV cache of this prompt is still warm: same prompt, unconstrained, just before
            assert i > 0 and calls[i - 1] == (prompt, False)
    assert len(calls) == len(TASKS) + sum(t.structured for t in TASKS) and len(set(prompts)) == len(TASKS)


def test_llama_backend_keeps_the_kv_cache_only_for_the_same_prompt():
    from node0_ops.evals.backends import LlamaCppBackend

    class FakeLlama:
        resets = 0

        def reset(self):
            FakeLlama.resets += 1

        def create_chat_completion(self, **kw):
            return {"choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}]}

    be = LlamaCppBackend.__new__(LlamaCppBackend)
    be.llm, be.n_ctx, be.max_new_tokens, be.structured_max_new_tokens, be.seed = FakeLlama(), 4096, 64, 64, 0
    be._grammars, be._last_messages = {}, None
    be._grammar = lambda schema: "grammar"
    a, b = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    be(a)
    be(a, {"type": "object"})          # constrained run of the same prompt: no reset
    be(b)
    be(a)                              # a new prompt again: reset
    assert FakeLlama.resets == 3

def _case(tid, cat, role, passed):
    return CaseResult(tid, cat, role, passed, 1.0 if passed else 0.0, [] if passed else ["bad"], "a", "p", 0.1)


def _report(model, outcomes):
    return EvalReport(model, "v1", False, [_case(f"t{i}", c, r, p) for i, (c, r, p) in enumerate(outcomes)])


def test_report_groups_table_and_roundtrip():
    rep = _report("m", [("planning", "mayor", True), ("planning", "mayor", False), ("conventions", "polecat", True)])
    assert rep.by_category["planning"].rate == 0.5 and rep.by_role["polecat"].passed == 1
    assert rep.subset(role="mayor", category="planning").n == 2
    table = rep.table()
    assert "| category | planning | 1 | 2 | 0.50 |" in table and "`t1`" in table
    again = EvalReport.from_json(rep.to_json())
    assert again.to_dict() == rep.to_dict()


def test_compare_side_by_side():
    base = _report("base", [("planning", "mayor", True), ("conventions", "polecat", False)])
    cand = _report("cand", [("planning", "mayor", False), ("conventions", "polecat", True)])
    out = compare(base, cand)
    assert "| overall | all | 0.50 (1/2) | 0.50 (1/2) | +0.00 |" in out
    assert "| category | planning | 1.00 (1/1) | 0.00 (0/1) | -1.00 |" in out
    assert "Regressions (1): t0" in out and "Fixed (1): t1" in out


def test_thresholds_validation():
    with pytest.raises(ValueError, match="overall=1.5: use a pass-rate fraction"):
        EvalThresholds(overall=1.5)
    with pytest.raises(ValueError, match="categories.vibes: unknown category"):
        EvalThresholds(categories={"vibes": 0.5})
    with pytest.raises(ValueError, match="roles.janitor: unknown role"):
        EvalThresholds(roles={"janitor": 0.5})
    with pytest.raises(ValueError, match="min_cases=0"):
        EvalThresholds(min_cases=0)
    with pytest.raises(ValueError, match="unknown threshold keys"):
        EvalThresholds.from_dict({"overal": 0.5})
    with pytest.raises(ValueError, match="role_categories.witness.planning=2"):
        EvalThresholds(role_categories={"witness": {"planning": 2}})


def test_thresholds_yaml(tmp_path):
    th = EvalThresholds.from_yaml(DEFAULT_THRESHOLDS)
    assert th.overall == 0.8 and th.role_categories["witness"]["patrol-decision"] == 0.85
    assert th.categories["bead-management"] == th.categories["conventions"] == 0.8
    bad = tmp_path / "t.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must be a YAML mapping"):
        EvalThresholds.from_yaml(bad)
    bad.write_text("overall: high\n")
    with pytest.raises(ValueError, match=r"t.yaml: overall='high'"):
        EvalThresholds.from_yaml(bad)


def test_passes_gates_role_and_categories():
    outcomes = [("patrol-decision", "witness", True)] * 3 + [("patrol-decision", "witness", False)] * 2 \
        + [("conventions", "polecat", True)] * 4
    rep = _report("cand", outcomes)
    th = EvalThresholds(overall=0.5, categories={"conventions": 0.8}, roles={"witness": 0.5},
                        role_categories={"witness": {"patrol-decision": 0.7}}, min_cases=3)
    ok, reasons = th.passes(rep, "polecat")
    assert ok, reasons
    ok, reasons = th.passes(rep, "witness")
    assert not ok and any("category patrol-decision: pass rate 0.60 (3/5) below 0.70" in r for r in reasons)
    small = EvalThresholds(categories={"planning": 0.9}, min_cases=3)
    ok, reasons = small.passes(rep, "mayor")
    assert ok and any("not gated" in r for r in reasons)
    with pytest.raises(ValueError, match="role 'janitor'"):
        th.passes(rep, "janitor")


def test_passes_regression_gate():
    base = _report("base", [("conventions", "polecat", True)] * 4)
    cand = _report("cand", [("conventions", "polecat", True)] * 3 + [("conventions", "polecat", False)])
    th = EvalThresholds(overall=0.5, max_regression=0.1, min_cases=3)
    ok, reasons = th.passes(cand, "polecat", base=base)
    assert not ok and any("regressed 0.25" in r for r in reasons)
    assert th.passes(cand, "polecat", base=cand)[0]


def test_rescore_recomputes_verdicts_from_saved_answers():
    from node0_ops.evals.runner import rescore

    rep = run_suite(_oracle(TASKS), TASKS[:4], constrained=False)
    for c in rep.cases:  # pretend an old checker got it wrong
        c.passed, c.score, c.errors = False, 0.0, ["old checker bug"]
    again = rescore(EvalReport.from_json(rep.to_json()), TASKS)
    assert again.overall.rate == 1.0 and [c.answer for c in again.cases] == [c.answer for c in rep.cases]
    assert rescore(rep, []).cases == []
