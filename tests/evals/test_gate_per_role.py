"""A role model is gated on its role's tasks plus the shared categories, never on another role's work."""

import pytest

from node0_ops.evals.eval_config import EvalThresholds
from node0_ops.evals.tasks import load_suite


def test_deacon_gate_excludes_other_roles_patrol_and_planning():
    tasks = load_suite("v1")
    th = EvalThresholds()
    mine = th.gate_tasks(tasks, "deacon")
    assert mine, "deacon has tasks of its own or shared ones"
    assert all(t.role == "deacon" or t.category in ("conventions", "bead-management") for t in mine)
    others = [t for t in tasks if t.role != "deacon" and t.category in ("patrol-decision", "planning", "git-workflow",
                                                                       "code-execution")]
    assert others and not set(t.task_id for t in others) & set(t.task_id for t in mine)
    shared = [t for t in tasks if t.category == "conventions"]
    assert set(t.task_id for t in shared) <= set(t.task_id for t in mine)


def test_shared_categories_configurable_and_validated():
    tasks = load_suite("v1")
    only_conv = EvalThresholds(shared_categories=["conventions"]).gate_tasks(tasks, "witness")
    assert not any(t.category == "bead-management" and t.role != "witness" for t in only_conv)
    with pytest.raises(ValueError, match="shared_categories"):
        EvalThresholds(shared_categories=["gossip"])
    with pytest.raises(ValueError, match="not one of"):
        EvalThresholds().gate_tasks(tasks, "janitor")
