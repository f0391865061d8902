"""Deploy into real Gas Town settings (sample town copy), gates, overrides and rollback."""

import json
from pathlib import Path

import pytest

from node0_ops.registry import settings as S
from node0_ops.registry.deploy import DeployRefused, deploy, deployment_history, rollback
from node0_ops.registry.rollout import RolloutConfig, load_rollout
from node0_ops.registry.store import RegistryError, get_model, list_models

RIG = "gastown"


@pytest.fixture
def town(sample_town):
    """Sample town with the rollout opened through stage 3 (deacon, boot, witness, polecat)."""
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 3\n")
    return sample_town


def _rig_settings(town: Path) -> Path:
    return town / RIG / "settings" / "config.json"


def test_deploy_to_rig_writes_runtime_config_and_keeps_other_keys(db, make_model, town, state):
    path = _rig_settings(town)
    before_text = path.read_text()
    before = json.loads(before_text)
    make_model("polecat", task_adapter=True)
    res = deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    doc = json.loads(path.read_text())
    assert doc["role_agents"] == {"polecat": "node0-polecat", "refinery": "claude-sonnet"}
    assert doc["agents"]["node0-polecat"] == {
        "command": "node0-inference", "provider": "node0", "env": {"GASTOWN_FT_HOME": str(state)},
        "args": ["--model", "polecat-v1@1", "--adapters", "task-git-workflow", "--role", "polecat", "--prime", "compact", "--intake"],
        "tmux": {"ready_prompt_prefix": "node0> ", "process_names": ["node0-inference", "python"]}}
    assert {k: v for k, v in doc.items() if k not in ("agents", "role_agents")} == \
           {k: v for k, v in before.items() if k != "role_agents"}
    assert path.read_text().startswith('{\n  "type": "rig-settings",\n  "version": 1,\n')  # 2-space layout kept
    assert Path(res.backup_path).read_text() == before_text
    assert res.previous_model == "claude-sonnet" and res.scope == "rig"
    m = get_model(db, "polecat-v1")
    assert m["status"] == "active" and m["deployed_rigs"] == [RIG]
    [row] = deployment_history(db, "polecat")
    assert (row["action"], row["rig"], row["model"], row["forced"], row["rollout_override"]) == \
           ("deploy", RIG, "polecat-v1@1", False, False)
    assert row["settings_path"] == str(path) and row["backup_path"] == res.backup_path


def test_deploy_to_town_settings(db, make_model, town):
    make_model("deacon")
    res = deploy(db, "deacon", town_root=town, town=True, role="deacon")
    doc = json.loads((town / "settings/config.json").read_text())
    assert doc["role_agents"]["deacon"] == "node0-deacon" and doc["role_agents"]["mayor"] == "claude-opus"
    assert doc["agents"]["node0-deacon"]["args"] == ["--model", "deacon-v1@1", "--role", "deacon", "--prime", "compact", "--intake"]
    assert set(doc["agents"]) == {"claude", "claude-opus", "claude-sonnet", "claude-haiku", "node0-deacon"}
    assert res.scope == "town" and get_model(db, "deacon-v1")["deployed_rigs"] == ["(town)"]


def test_new_deploy_archives_previous_active(db, make_model, town):
    make_model("polecat")
    make_model("polecat")
    deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    res = deploy(db, "polecat-v2", town_root=town, rig=RIG, role="polecat")
    assert res.previous_model == "polecat-v1@1"
    assert {m["name"]: (m["status"], m["deployed_rigs"]) for m in list_models(db)} == {
        "polecat-v2": ("active", [RIG]), "polecat-v1": ("archived", [])}


def test_crash_mid_write_leaves_settings_and_registry_untouched(db, make_model, town, monkeypatch):
    make_model("polecat")
    path = _rig_settings(town)
    original = path.read_bytes()
    monkeypatch.setattr(S.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("power cut")))
    with pytest.raises(OSError, match="power cut"):
        deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    assert path.read_bytes() == original
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert deployment_history(db) == [] and get_model(db, "polecat-v1")["status"] == "candidate"


def test_below_threshold_refused_then_forced_with_reason(db, make_model, town):
    make_model("polecat", good=False)
    path = _rig_settings(town)
    original = path.read_bytes()
    with pytest.raises(DeployRefused) as exc:
        deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    assert any("category bead-management: pass rate 0.25" in r for r in exc.value.reasons)
    assert path.read_bytes() == original and deployment_history(db) == []
    with pytest.raises(RegistryError, match="--reason"):
        deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat", force=True)
    res = deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat", force=True, reason="hotfix for gt-abc12")
    assert res.forced and res.reason == "hotfix for gt-abc12"
    [row] = deployment_history(db)
    assert row["forced"] is True and row["reason"] == "hotfix for gt-abc12"
    assert any("bead-management" in g for g in row["gate_reasons"])


def test_custom_thresholds(db, make_model, town):
    make_model("polecat", good=False)  # overall 14/17 = 0.82
    deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat", thresholds=0.8)
    with pytest.raises(DeployRefused, match="overall"):
        deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat", thresholds={"overall": 0.9})


def test_rollout_closed_role_refused_and_override_recorded(db, make_model, sample_town):
    make_model("polecat")
    with pytest.raises(DeployRefused) as exc:  # default rollout: stage 1 (deacon, boot)
        deploy(db, "polecat-v1", town_root=sample_town, rig=RIG, role="polecat")
    assert any("opens at rollout stage 3, current stage is 1" in r for r in exc.value.reasons)
    with pytest.raises(RegistryError, match="--reason"):
        deploy(db, "polecat-v1", town_root=sample_town, rig=RIG, role="polecat", override_rollout=True)
    res = deploy(db, "polecat-v1", town_root=sample_town, rig=RIG, role="polecat", override_rollout=True,
                 reason="canary on one rig")
    assert res.rollout_override and not res.forced
    assert deployment_history(db)[0]["rollout_override"] is True


def test_mayor_blocked_even_at_last_stage(db, make_model, sample_town):
    make_model("mayor")
    with pytest.raises(DeployRefused, match="blocked"):
        deploy(db, "mayor", town_root=sample_town, town=True, role="mayor", rollout=RolloutConfig(stage=4))


def test_rollout_file_lookup_and_validation(sample_town, state):
    assert load_rollout(town_root=sample_town, state=state).stage == 1
    (state / "rollout.json").write_text('{"stage": 2}')
    assert load_rollout(town_root=sample_town, state=state).allows("witness")[0]
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 4\nstages: [[deacon], [boot], [witness], [polecat, refinery]]\n")
    plan = load_rollout(town_root=sample_town, state=state)  # the town's file wins over the state dir's
    assert plan.allows("refinery")[0] and not plan.allows("crew")[0]
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 9\n")
    with pytest.raises(ValueError, match="stage=9"):
        load_rollout(town_root=sample_town)
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 1\nstages: [[deacon, pilot]]\n")
    with pytest.raises(ValueError, match="unknown role 'pilot'"):
        load_rollout(town_root=sample_town)


def test_scope_and_role_checks(db, make_model, town):
    make_model("deacon")
    make_model("polecat")
    with pytest.raises(RegistryError, match="town-level role"):
        deploy(db, "deacon", town_root=town, rig=RIG, role="deacon")
    with pytest.raises(RegistryError, match="trained for role polecat, not witness"):
        deploy(db, "polecat", town_root=town, rig=RIG, role="witness")
    with pytest.raises(RegistryError, match="rig 'nowhere' not found"):
        deploy(db, "polecat", town_root=town, rig="nowhere", role="polecat")
    with pytest.raises(RegistryError, match="exactly one target"):
        deploy(db, "polecat", town_root=town, rig=RIG, town=True, role="polecat")


def test_town_deploy_warns_about_rig_overrides(db, make_model, town):
    make_model("polecat")
    res = deploy(db, "polecat", town_root=town, town=True, role="polecat")
    assert len(res.warnings) == 1 and "gastown" in res.warnings[0] and "webapp" in res.warnings[0]


def test_rollback_in_one_step_keeps_later_unrelated_edits(db, make_model, town):
    path = _rig_settings(town)
    original = path.read_text()
    make_model("polecat")
    make_model("polecat", task_adapter=True)
    first = deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    deploy(db, "polecat-v2", town_root=town, rig=RIG, role="polecat")
    # an operator edits something unrelated after the deploy
    path.write_text(path.read_text().replace('"poll_interval": "30s"', '"poll_interval": "45s"'))

    res = rollback(db, "polecat", town_root=town, rig=RIG)
    doc = json.loads(path.read_text())
    assert doc["agents"]["node0-polecat"] == first.entry  # v1's exact args, not v2's adapters
    assert doc["role_agents"]["polecat"] == "node0-polecat"
    assert doc["merge_queue"]["poll_interval"] == "45s"  # the later edit survived
    assert (res.action, res.model, res.previous_model) == ("rollback", "polecat-v1@1", "polecat-v2@2")
    assert {m["name"]: (m["status"], m["deployed_rigs"]) for m in list_models(db)} == {
        "polecat-v2": ("archived", []), "polecat-v1": ("active", [RIG])}

    res2 = rollback(db, "polecat", town_root=town, rig=RIG)  # walks back to the pre-node0 state
    assert res2.model == "claude-sonnet"
    assert path.read_text() == original.replace('"poll_interval": "30s"', '"poll_interval": "45s"')
    assert get_model(db, "polecat-v1")["deployed_rigs"] == []
    with pytest.raises(RegistryError, match="no deploy of polecat to rig gastown to roll back"):
        rollback(db, "polecat", town_root=town, rig=RIG)
    assert [r["action"] for r in deployment_history(db)] == ["deploy", "deploy", "rollback", "rollback"]


def test_rollback_then_redeploy_then_rollback(db, make_model, town):
    make_model("polecat")
    make_model("polecat")
    deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    deploy(db, "polecat-v2", town_root=town, rig=RIG, role="polecat")
    rollback(db, "polecat", town_root=town, rig=RIG)
    deploy(db, "polecat-v2", town_root=town, rig=RIG, role="polecat")
    res = rollback(db, "polecat", town_root=town, rig=RIG)
    assert res.model == "polecat-v1@1"
    assert json.loads(_rig_settings(town).read_text())["agents"]["node0-polecat"]["args"][1] == "polecat-v1@1"


def test_pruned_model_cannot_be_deployed(db, make_model, town):
    from node0_ops.registry.store import prune

    make_model("polecat")
    make_model("polecat")
    prune(db, "polecat", keep=1)
    with pytest.raises(RegistryError, match="no GGUF or merged weights on disk"):
        deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")


def test_registry_write_failure_undoes_the_settings_edit(db, make_model, town, monkeypatch):
    import node0_ops.registry.deploy as D

    make_model("polecat")
    path = _rig_settings(town)
    original = path.read_text()

    def broken(*a, **k):
        raise RuntimeError("db went away")

    monkeypatch.setattr(D, "_record", broken)
    with pytest.raises(RuntimeError, match="db went away"):
        deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    assert path.read_text() == original  # settings put back: no town points at an unrecorded model


def test_redeploying_the_same_model_is_a_recorded_no_op(db, make_model, town):
    make_model("polecat")
    deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    again = deploy(db, "polecat-v1", town_root=town, rig=RIG, role="polecat")
    assert again.backup_path is None and "settings unchanged" in again.warnings[0]
    assert len(deployment_history(db)) == 1
    assert rollback(db, "polecat", town_root=town, rig=RIG).model == "claude-sonnet"  # one step back to the start
