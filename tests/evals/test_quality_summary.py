"""Quality summary numbers and held-out scenario tasks."""

import json

from node0_ops.evals.checkers import run_checker
from node0_ops.evals.quality import scenario_tasks, summarize
from node0_ops.evals.report import CaseResult, EvalReport

ROW = {"example_id": "e1", "origin": "scenario", "role": "witness", "split": "test",
       "meta": {"allowed": ["continue", "nudge", "escalate"], "action": "nudge", "cites": ["quill"]},
       "messages": [{"role": "user", "content": "$ gt polecat list\nquill working idle 44m\nDecide."},
                    {"role": "assistant", "content": json.dumps({"action": "nudge", "reason": "quill idle 44m",
                                                                 "target": "quill"})}]}


def _case(cat, passed, score, answer=""):
    return CaseResult("t", cat, "witness", passed, score, [], answer, "", 0.1, False, "")


def test_summary_rates_validity_and_forbidden():
    rep = EvalReport(model="m", suite="v2", constrained=False, cases=[
        _case("patrol-decision", True, 1.0), _case("patrol-decision", False, 0.5), _case("patrol-decision", False, 0.0),
        _case("bead-management", True, 1.0, "```bash\nbd close gt-a1 --reason done\n```"),
        _case("conventions", False, 0.0, "```bash\npkill -f claude\n```")])
    s = summarize(rep)
    assert s["patrol"] == round(1 / 3, 4) and s["valid_json"] == round(2 / 3, 4)
    assert s["bead"] == 1.0 and s["conventions"] == 0.0 and s["forbidden"] == 1 and s["n"] == 5


def test_scenario_tasks_check_the_label_and_the_citation():
    (task,) = scenario_tasks([ROW, {**ROW, "example_id": "e2", "origin": "beads"}])
    assert task.messages == ROW["messages"][:1] and task.role == "witness"
    assert run_checker(task.checker, task.reference, task.checker_args).passed      # extra fields allowed
    wrong = json.dumps({"action": "continue", "reason": "quill is fine"})
    assert not run_checker(task.checker, wrong, task.checker_args).passed
    uncited = json.dumps({"action": "nudge", "reason": "someone is idle"})
    assert not run_checker(task.checker, uncited, task.checker_args).passed
    assert len(scenario_tasks([{**ROW, "example_id": f"e{i}"} for i in range(10)], limit=3)) == 3
