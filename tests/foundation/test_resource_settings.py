"""<state>/resources.yaml configures the code location's resources; bad files name the file and key."""

import pytest
import yaml

from node0_ops.paths import state_thresholds
from resources.evaluator import EvaluatorResource
from resources.settings import configured_resources, load_resource_settings
from resources.trainer import TrainerResource


def _write(state, data):
    (state / "resources.yaml").write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)


def test_no_file_gives_the_defaults(state):
    res = configured_resources(state)
    assert res["trainer"].max_steps == TrainerResource().max_steps and res["evaluator"].limit == 0
    assert load_resource_settings(state) == {} and state_thresholds(state) is None


def test_file_values_reach_the_code_location(state):
    _write(state, {"trainer": {"max_steps": 7, "mode": "inprocess"}, "evaluator": {"limit": 2, "thresholds_yaml": "/t.yaml"},
                   "exporter": {"quants": ["q8_0"]}})
    from gastown_assets.definitions import build_resources

    res = build_resources()  # GASTOWN_FT_HOME = state (fixture)
    assert (res["trainer"].max_steps, res["trainer"].mode) == (7, "inprocess")
    assert res["exporter"].quants == ["q8_0"] and res["evaluator"].limit == 2
    assert state_thresholds(state) == "/t.yaml"


@pytest.mark.parametrize("data, error", [
    ({"trainr": {}}, "unknown resource 'trainr'"),
    ({"trainer": {"max_step": 3}}, r"trainer.max_step is not a setting"),
    ({"trainer": {"max_steps": "many"}}, r"trainer.max_steps='many': Input should be a valid integer"),
    ({"evaluator": [1, 2]}, "evaluator must be a mapping"),
    ("- a\n- b\n", "must be a mapping"),
    ("trainer: [unclosed\n", "not valid YAML"),
])
def test_bad_files_name_the_file_and_the_key(state, data, error):
    _write(state, data)
    with pytest.raises(ValueError, match=error) as exc:
        load_resource_settings(state)
    assert str(state / "resources.yaml") in str(exc.value)


def test_eval_limit_keeps_the_first_tasks_of_each_category():
    from node0_ops.evals import load_suite

    full = load_suite(EvaluatorResource().suite)
    limited = EvaluatorResource(limit=2, max_corpus_tasks=0).tasks([])
    cats = {t.category for t in full}
    assert len(limited) == sum(min(2, sum(t.category == c for t in full)) for c in cats)
    for c in cats:
        assert [t.task_id for t in limited if t.category == c] == [t.task_id for t in full if t.category == c][:2]
    assert len(EvaluatorResource(max_corpus_tasks=0).tasks([])) == len(full)


def test_trainer_run_overrides_replace_only_given_fields():
    import dagster as dg

    base = TrainerResource(max_steps=40, lora_r=16)
    same = base.with_overrides(base="", lora_r=0, max_steps=0)
    assert same is base
    tuned = base.with_overrides(lora_r=4, lora_alpha=8, max_steps=2)
    assert (tuned.lora_r, tuned.lora_alpha, tuned.max_steps, tuned.base) == (4, 8, 2, base.base)
    assert tuned.fingerprint() != base.fingerprint()
    with pytest.raises(dg.Failure, match="unknown trainer setting 'rank'"):
        base.with_overrides(rank=4)


def test_eval_tasks_of_a_role_are_its_own_plus_shared():
    tasks = EvaluatorResource(max_corpus_tasks=0).tasks([], role="deacon")
    assert tasks and {t.role for t in tasks if t.category == "patrol-decision"} == {"deacon"}
    assert {"conventions", "bead-management"} <= {t.category for t in tasks}
