"""The versioned suite v1: shape, counts, and that every reference answer passes its checker
while every known-bad answer fails (so checkers and tasks keep agreeing)."""

import json
from collections import Counter

import pytest

from node0_ops.corpus.schema import ROLES
from node0_ops.evals.checkers import CHECKERS, run_checker
from node0_ops.evals.tasks import CATEGORIES, STRUCTURED_CHECKERS, EvalTask, load_suite, suite_dir

TASKS = load_suite("v1")


def test_suite_counts_per_category():
    counts = Counter(t.category for t in TASKS)
    assert set(counts) == set(CATEGORIES)
    for cat, n in counts.items():
        assert 8 <= n <= 15, (cat, n)
    assert len({t.task_id for t in TASKS}) == len(TASKS)


def test_tasks_are_well_formed():
    for t in TASKS:
        assert t.role in ROLES and t.checker in CHECKERS
        assert t.messages[0]["role"] == "system" and t.messages[-1]["role"] == "user"
        assert t.reference, t.task_id
        assert t.negatives, t.task_id
        assert t.structured == (t.checker in STRUCTURED_CHECKERS), t.task_id
    roles = Counter(t.role for t in TASKS)
    assert {"polecat", "witness", "refinery", "mayor", "deacon", "crew"} <= set(roles)


def test_structured_schemas_are_valid_and_match_references():
    import jsonschema

    for t in (t for t in TASKS if t.structured):
        jsonschema.Draft202012Validator.check_schema(t.json_schema)
        jsonschema.validate(json.loads(t.reference), t.json_schema)
        if t.checker == "patrol_decision":
            assert t.json_schema["properties"]["action"]["enum"] == t.checker_args["allowed_actions"]
            assert set(t.checker_args["accepted_actions"]) <= set(t.checker_args["allowed_actions"])


@pytest.mark.parametrize("task", TASKS, ids=[t.task_id for t in TASKS])
def test_reference_passes_and_negatives_fail(task):
    ref = run_checker(task.checker, task.reference, task.checker_args)
    assert ref.passed and ref.score == 1.0, (task.task_id, ref.errors)
    for bad in task.negatives:
        res = run_checker(task.checker, bad, task.checker_args)
        assert not res.passed, (task.task_id, bad)
        assert res.errors


def test_filters_and_bad_versions():
    assert {t.category for t in load_suite("v1", categories=["planning"])} == {"planning"}
    assert {t.role for t in load_suite("v1", roles=["witness"])} == {"witness"}
    with pytest.raises(FileNotFoundError, match="available: .*v1"):
        load_suite("v999")
    assert suite_dir("v1").is_dir()


def test_bad_records_are_reported_with_location(tmp_path, monkeypatch):
    import node0_ops.evals.tasks as tasks_mod

    root = tmp_path / "suite"
    (root / "vx").mkdir(parents=True)
    good = TASKS[0].to_dict()
    good.pop("source")
    bad = dict(good, task_id="x-2", role="janitor")
    (root / "vx" / "a.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    monkeypatch.setattr(tasks_mod, "SUITE_ROOT", root)
    with pytest.raises(ValueError, match=r"a.jsonl:2: task x-2: role 'janitor'"):
        tasks_mod.load_suite("vx")
    (root / "vx" / "a.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ValueError, match="duplicate task_id"):
        tasks_mod.load_suite("vx")
    (root / "vx" / "a.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match="a.jsonl:1: invalid JSON"):
        tasks_mod.load_suite("vx")
    with pytest.raises(ValueError, match="unknown checker"):
        EvalTask.from_dict(dict(good, checker="vibes"))
    with pytest.raises(ValueError, match="last message must be from the user"):
        EvalTask.from_dict(dict(good, messages=good["messages"] + [{"role": "assistant", "content": "x"}]))


def test_system_prompt_asks_for_the_format_the_checker_reads():
    wanted = {"commands": "```bash block", "pr_description": "markdown only", "patrol_decision": "only a JSON object",
              "plan_dag": "Answer with only JSON", "code_exec": "```python block"}
    for t in TASKS:
        system = t.messages[0]["content"]
        assert wanted[t.checker] in system, (t.task_id, system[-120:])
        others = [v for k, v in wanted.items() if v != wanted[t.checker]]
        assert not any(o in system for o in others), t.task_id


def test_build_script_reproduces_the_committed_files(tmp_path):
    import importlib.util

    script = suite_dir("v1").parent / "build_v1.py"
    spec = importlib.util.spec_from_file_location("build_v1", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    counts = mod.write(tmp_path)
    assert sum(counts.values()) == len(TASKS)
    for path in sorted(suite_dir("v1").glob("*.jsonl")):
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name
