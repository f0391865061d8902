"""Suite v2: counts per role and category, that every reference passes and every known-bad answer
fails, that patrol reasons must cite the evidence, that the prompt framings vary, and that the
builder reproduces the committed files."""

import json
import random
from collections import Counter

import pytest

from node0_ops.corpus.schema import ROLES
from node0_ops.evals.checkers import CHECKERS, run_checker
from node0_ops.evals.eval_config import EvalThresholds
from node0_ops.evals.tasks import CATEGORIES, STRUCTURED_CHECKERS, load_suite, suite_dir

TASKS = load_suite("v2")
PATROL = [t for t in TASKS if t.category == "patrol-decision"]
PATROL_ROLES = ("deacon", "witness", "refinery", "dog")


def test_counts_per_role_and_category():
    per_role = Counter(t.role for t in PATROL)
    for role in PATROL_ROLES:
        assert per_role[role] >= 30, (role, per_role)
    commands = [t for t in TASKS if "command" in t.tags]
    assert len(commands) >= 40
    families = Counter(tag for t in commands for tag in t.tags if tag != "command")
    for fam in ("create", "close", "deps", "status", "epic", "parent", "sling", "mail", "nudge", "escalate", "done"):
        assert families[fam] >= 1, (fam, families)
    assert Counter(t.category for t in TASKS)["conventions"] >= 12
    assert {t.category for t in TASKS} <= set(CATEGORIES)
    assert len({t.task_id for t in TASKS}) == len(TASKS)
    assert all(t.task_id.startswith("v2-") for t in TASKS)


def test_tasks_are_well_formed():
    for t in TASKS:
        assert t.role in ROLES and t.checker in CHECKERS, t.task_id
        assert t.messages[-1]["role"] == "user" and t.reference and t.negatives, t.task_id
        assert t.structured == (t.checker in STRUCTURED_CHECKERS), t.task_id
    prompts = ["\n".join(m["content"] for m in t.messages) for t in TASKS]
    assert len(set(prompts)) == len(prompts), "two v2 tasks share a prompt"


def test_structured_schemas_are_valid_and_match_references():
    import jsonschema

    for t in PATROL:
        jsonschema.Draft202012Validator.check_schema(t.json_schema)
        jsonschema.validate(json.loads(t.reference), t.json_schema)
        args = t.checker_args
        assert t.json_schema["properties"]["action"]["enum"] == args["allowed_actions"], t.task_id
        assert set(args["accepted_actions"]) <= set(args["allowed_actions"]), t.task_id
        assert args["reason_mentions"], t.task_id
        if t.json_schema != _default_schema(args["allowed_actions"]):
            assert args["schema"] == t.json_schema, t.task_id


def _default_schema(allowed):
    from node0_ops.evals.checks import patrol_decision_schema

    return patrol_decision_schema(allowed)


@pytest.mark.parametrize("task", TASKS, ids=[t.task_id for t in TASKS])
def test_reference_passes_and_negatives_fail(task):
    ref = run_checker(task.checker, task.reference, task.checker_args)
    assert ref.passed and ref.score == 1.0, (task.task_id, ref.errors)
    for bad in task.negatives:
        res = run_checker(task.checker, bad, task.checker_args)
        assert not res.passed and res.errors, (task.task_id, bad)


def test_patrol_reason_must_cite_the_evidence():
    t = next(t for t in PATROL if t.checker_args["reason_mentions"])
    action = t.checker_args["accepted_actions"][0]
    generic = run_checker("patrol_decision", json.dumps({"action": action, "reason": "Looks right to me."}), t.checker_args)
    assert not generic.passed and generic.score == 0.75 and "cite" in generic.errors[0]
    cite = t.checker_args["reason_mentions"][0]
    cited = run_checker("patrol_decision", json.dumps({"action": action, "reason": f"Because of {cite.upper()}."}), t.checker_args)
    assert cited.passed
    # without the new arg the checker behaves as in v1
    v1_args = {k: v for k, v in t.checker_args.items() if k != "reason_mentions"}
    assert run_checker("patrol_decision", json.dumps({"action": action, "reason": "Looks right to me."}), v1_args).passed


def test_random_allowed_action_with_generic_reason_scores_nothing():
    rnd = random.Random(3)
    passed = 0
    for t in PATROL:
        answer = json.dumps({"action": rnd.choice(t.checker_args["allowed_actions"]), "reason": "Based on the evidence shown."})
        passed += run_checker("patrol_decision", answer, t.checker_args).passed
    assert passed == 0


def test_ambiguous_middle_and_framings_are_covered_per_role():
    for role in PATROL_ROLES:
        mine = [t for t in PATROL if t.role == role]
        kinds = Counter(tag for t in mine for tag in t.tags if tag in ("noop", "clear", "borderline", "dirty", "conflict"))
        assert kinds["noop"] >= 2 and kinds["clear"] >= 5, (role, kinds)
        assert kinds["borderline"] + kinds["dirty"] + kinds["conflict"] >= 5, (role, kinds)
        framings = Counter(tag for t in mine for tag in t.tags if tag.startswith("framing-"))
        assert len(framings) == 4 and min(framings.values()) >= 5, (role, framings)
        shapes = Counter(tuple(m["role"] for m in t.messages) for t in mine)
        assert shapes[("user",)] >= 10 and shapes[("system", "user")] >= 10, (role, shapes)
        formulas = {tag for t in mine for tag in t.tags if ":" in tag}
        assert len(formulas) >= 3, (role, formulas)
    wants = [t for t in PATROL if "target" in t.json_schema["properties"]]
    assert wants and all("optionally" in t.messages[-1]["content"] for t in wants)
    assert all("JSON" in "\n".join(m["content"] for m in t.messages) for t in PATROL)


def test_gate_per_role_uses_own_patrol_cases_and_shared_categories():
    gated = EvalThresholds().gate_tasks(TASKS, "deacon")
    patrol_roles = {t.role for t in gated if t.category == "patrol-decision"}
    assert patrol_roles == {"deacon"}
    assert {"bead-management", "conventions"} <= {t.category for t in gated}
    assert sum(t.category == "patrol-decision" for t in gated) >= 30


def test_build_script_reproduces_the_committed_files(tmp_path):
    import importlib.util

    script = suite_dir("v2").parent / "build_v2.py"
    spec = importlib.util.spec_from_file_location("build_v2", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    counts = mod.write(tmp_path)
    assert sum(counts.values()) == len(TASKS)
    for path in sorted(suite_dir("v2").glob("*.jsonl")):
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name
