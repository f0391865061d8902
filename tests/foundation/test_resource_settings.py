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
    assert res["trainer"].sft == {} and res["evaluator"].limit == 0
    from node0_ops.train.sft_config import SFTConfig

    assert res["trainer"].sft_config() == SFTConfig()   # the dataclass's defaults, no second set
    assert load_resource_settings(state) == {} and state_thresholds(state) is None


def test_file_values_reach_the_code_location(state):
    _write(state, {"trainer": {"sft": {"max_steps": 7, "lora.r": 4}, "dpo": {"beta": 0.3}, "mode": "inprocess"}, "evaluator": {"limit": 2, "thresholds_yaml": "/t.yaml"},
                   "exporter": {"quants": ["q8_0"]}})
    from gastown_assets.definitions import build_resources

    res = build_resources()  # GASTOWN_FT_HOME = state (fixture)
    cfg = res["trainer"].sft_config()
    assert (cfg.max_steps, cfg.lora.r, res["trainer"].dpo_config().beta, res["trainer"].mode) == (7, 4, 0.3, "inprocess")
    assert res["exporter"].quants == ["q8_0"] and res["evaluator"].limit == 2
    assert state_thresholds(state) == "/t.yaml"


@pytest.mark.parametrize("data, error", [
    ({"trainr": {}}, "unknown resource 'trainr'"),
    ({"trainer": {"max_step": 3}}, r"trainer.max_step is not a setting"),
    ({"trainer": {"max_steps": 3}}, r"trainer.max_steps is not a setting.*put it under trainer.sft, e.g. sft: \{max_steps"),
    ({"trainer": {"lora_r": 3}}, r"LoRA shape goes under trainer.sft, e.g. sft: \{lora.r"),
    ({"trainer": {"sft": {"max_step": 3}}}, r"trainer.sft: SFTConfig has no field 'max_step'"),
    ({"trainer": {"sft": {"max_steps": "many"}}}, r"trainer.sft: .*max_steps"),
    ({"trainer": {"dpo": {"beta": 0}}}, r"trainer.dpo: beta=0.0 must be > 0"),
    ({"trainer": {"sft": [1, 2]}}, r"trainer.sft=\[1, 2\]: Input should be a valid dictionary"),
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

    base = TrainerResource(sft={"max_steps": 40, "lora": {"r": 16}})
    assert base.with_overrides(sft={"base": "", "lora.r": 0, "max_steps": 0}) is base
    tuned = base.with_overrides(sft={"lora.r": 4, "lora.lora_alpha": 8, "max_steps": 2})
    cfg = tuned.sft_config()
    assert (cfg.lora.r, cfg.lora.lora_alpha, cfg.max_steps, cfg.base) == (4, 8, 2, base.sft_config().base)
    assert base.sft == {"max_steps": 40, "lora": {"r": 16}}        # the original is untouched
    assert tuned.fingerprint() != base.fingerprint()
    with pytest.raises(dg.Failure, match="SFTConfig has no field 'rank'"):
        base.with_overrides(sft={"rank": 4})
    # a caller's defaults sit under the operator's settings: resources.yaml's lora.r 16 stays
    mixed = base.with_defaults(sft={"lora.r": 8, "max_seq_len": 256}).sft_config()
    assert (mixed.lora.r, mixed.max_seq_len, mixed.max_steps) == (16, 256, 40)


def test_dpo_has_its_own_defaults_not_the_sft_learning_rate():
    from node0_ops.train.dpo_config import DPOConfig

    trainer = TrainerResource(sft={"learning_rate": 1e-3})
    assert trainer.dpo_config().learning_rate == DPOConfig().learning_rate == 5e-5


def test_eval_tasks_of_a_role_are_its_own_plus_shared():
    tasks = EvaluatorResource(max_corpus_tasks=0).tasks([], role="deacon")
    assert tasks and {t.role for t in tasks if t.category == "patrol-decision"} == {"deacon"}
    assert {"conventions", "bead-management"} <= {t.category for t in tasks}
