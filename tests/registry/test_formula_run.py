"""Formula steps rendered and run: unit rules of the renderer, then all three of our formulas
installed into a copy of the embedded town and run step by step with `gt-model formulas run`
(real `dagster asset materialize` calls, tiny training budget from the state's resources.yaml)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from node0_ops.evals.command_validator import validate
from node0_ops.registry.formula_run import formula_commands, resolve_vars
from node0_ops.registry.formulas import packaged_formulas

OURS = {p.name.split(".")[0]: p for p in packaged_formulas()}
BIN = Path(sys.executable).parent


def test_required_and_unknown_vars_are_refused():
    with pytest.raises(ValueError, match="needs --var role="):
        formula_commands(OURS["train-role-model"], {})
    with pytest.raises(ValueError, match="has no var 'rank'"):
        formula_commands(OURS["train-role-model"], {"role": "polecat", "rank": "4"})
    assert resolve_vars({"vars": {"a": {"default": "1"}, "b": {}}}, {"b": "x"}) == {"a": "1", "b": "x"}


def test_rendered_commands_follow_needs_and_fill_every_placeholder():
    cmds = formula_commands(OURS["train-role-model"], {"role": "witness", "max_steps": "3", "lora_rank": "4"})
    steps = [c.step for c in cmds]
    assert steps == sorted(steps, key=["prepare", "train", "export", "eval", "register"].index)
    assert all("{{" not in c.command for c in cmds)
    train = next(c.command for c in cmds if "--select role_adapter" in c.command)
    config = json.loads(train.split("--config-json ")[1].strip("'"))
    assert config["ops"]["role_adapter"]["config"] == {"base_model": "smollm2-135m", "lora_rank": 4, "max_steps": 3,
                                                       "corpus_path": ""}
    assert all("--partition witness" in c.command for c in cmds if "materialize" in c.command and "corpus" not in c.command)


def test_optional_blocks_are_skipped_only_while_their_var_is_empty():
    kinds = lambda v: {c.command.split()[1]: c.kind for c in formula_commands(OURS["train-role-model"], v)  # noqa: E731
                       if c.command.split()[0] in ("node0-corpus", "gt-model")}
    off = kinds({"role": "crew"})
    assert off["export"] == "skip" and off["deploy"] == "skip" and off["build"] == "run"
    on = kinds({"role": "crew", "corpus_path": "/tmp/slice", "deploy_target": "--town"})
    assert on["export"] == "run" and on["deploy"] == "run"


def test_bd_lines_are_for_replay_and_valid_and_every_other_command_exists():
    for path in OURS.values():
        for c in formula_commands(path, {"role": "polecat"}):
            if c.kind == "bd":
                assert validate(c.command.replace("<id>", "gt-abc12")).ok, c.command
            elif c.kind == "run":
                exe = c.command.split()[0]
                assert (BIN / exe).exists() or shutil.which(exe), f"{path.name}: {exe} is not installed"


@pytest.mark.slow
def test_our_formulas_install_and_run_against_the_embedded_town(tmp_path):
    from node0_ops.paths import EMBEDDED_TOWN

    town, state = tmp_path / "town", tmp_path / "state"
    shutil.copytree(EMBEDDED_TOWN, town)
    state.mkdir()
    (state / "thresholds.yaml").write_text(yaml.safe_dump({"overall": 0.0, "min_cases": 1, "max_regression": 1.0}))
    (state / "resources.yaml").write_text(yaml.safe_dump({
        "trainer": {"sft": {"max_steps": 1, "max_seq_len": 128, "gradient_accumulation_steps": 1, "eval_every": 0,
                            "checkpoint_every": 0},
                    "dpo": {"max_steps": 1, "max_seq_len": 128, "max_prompt_len": 96, "gradient_accumulation_steps": 1,
                            "eval_every": 0, "checkpoint_every": 0}},
        "exporter": {"quants": ["q8_0"]},
        "evaluator": {"limit": 1, "max_new_tokens": 8, "max_corpus_tasks": 2,
                      "thresholds_yaml": str(state / "thresholds.yaml")}}))
    env = {**os.environ, "GT_ROOT": str(town), "GASTOWN_FT_HOME": str(state), "PATH": f"{BIN}:/usr/bin:/bin",
           "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")

    def gt_model(*argv):
        proc = subprocess.run([str(BIN / "gt-model"), *argv], env=env, capture_output=True, text=True, timeout=1500)
        assert proc.returncode == 0, f"gt-model {' '.join(argv)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    installed = json.loads(gt_model("formulas", "install", "--json"))
    assert sorted(installed["installed"]) == sorted(p.name for p in OURS.values())
    assert (town / ".beads" / "formulas" / "train-role-model.formula.toml").exists()

    out = gt_model("formulas", "run", "corpus-collect", "--var", "role=deacon", "--var", "task=patrol-decision")
    assert "all succeeded" in out and "[audit] $ node0-corpus audit" in out
    out = gt_model("formulas", "run", "train-role-model", "--var", "role=deacon", "--var", "max_steps=1",
                   "--var", "lora_rank=4", "--var", "deploy_target=--town")
    assert "all succeeded" in out, out
    model = json.loads(gt_model("show", "deacon", "--json"))
    assert model["ref"] == "deacon-v1@1" and model["status"] == "active"
    agents = json.loads((town / "settings" / "config.json").read_text())["agents"]
    assert "node0-deacon" in agents
    out = gt_model("formulas", "run", "eval-suite", "--var", "role=deacon")
    assert "all succeeded" in out and "$ gt-model diff deacon" in out
    assert "bd: bd close <id>" in out  # bead commands are printed for replay, never run
