"""``gt-model`` deploy, rollback and prune show up in the Dagster UI as runless asset events."""

import dagster as dg
import pytest

from gastown_assets.cli.model import main
from node0_ops.paths import dagster_home


@pytest.fixture
def gt_model(state, sample_town, capsys, monkeypatch):
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 3\n")
    monkeypatch.setenv("BD_ACTOR", "mayor")

    def _run(*argv: str) -> tuple[int, str]:
        code = main(["--state-dir", str(state), "--town", str(sample_town), *argv])
        return code, capsys.readouterr().err

    return _run


def _events(state, asset: str, kind: dg.DagsterEventType) -> list:
    with dg.DagsterInstance.from_config(str(dagster_home(state))) as instance:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=50).records \
            if kind == dg.DagsterEventType.ASSET_MATERIALIZATION else \
            instance.fetch_observations(dg.AssetKey(asset), limit=50).records
        return [(r.partition_key, r.asset_materialization or r.asset_observation) for r in records]


def test_cli_deploy_and_rollback_are_materializations_of_the_deployment(gt_model, make_model, state):
    make_model("polecat", good=False)
    code, err = gt_model("deploy", "polecat-v1", "--rig", "gastown", "--role", "polecat", "--force",
                         "--reason", "hotfix gt-abc12")
    assert code == 0, err
    code, err = gt_model("rollback", "polecat", "--rig", "gastown")
    assert code == 0, err
    events = _events(state, "role_deployment", dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert [p for p, _ in events] == ["polecat", "polecat"]
    by_action = {m.metadata["action"].value: m.metadata for _, m in events}
    dep, back = by_action["deploy"], by_action["rollback"]
    assert dep["model"].value == "polecat-v1@1" and dep["who"].value == "mayor"
    assert dep["reason"].value == "hotfix gt-abc12" and dep["forced"].value is True
    assert dep["scope"].value == "rig gastown" and dep["previous_model"].value == "claude-sonnet"
    assert back["previous_model"].value == "polecat-v1@1" and back["model"].value == "claude-sonnet"


def test_refused_deploy_reports_nothing(gt_model, make_model, state):
    make_model("polecat", good=False)
    code, _ = gt_model("deploy", "polecat-v1", "--rig", "gastown", "--role", "polecat")
    assert code == 1
    assert _events(state, "role_deployment", dg.DagsterEventType.ASSET_MATERIALIZATION) == []


def test_prune_is_an_observation_of_the_registry_entry(gt_model, make_model, state):
    for _ in range(3):
        make_model("polecat")
    assert gt_model("prune", "polecat", "--keep", "1", "--dry-run")[0] == 0
    assert _events(state, "registry_entry", dg.DagsterEventType.ASSET_OBSERVATION) == []
    assert gt_model("prune", "polecat", "--keep", "1")[0] == 0
    [(partition, obs)] = _events(state, "registry_entry", dg.DagsterEventType.ASSET_OBSERVATION)
    assert partition == "polecat"
    archived = obs.metadata["archived"].value
    assert len(archived) == 2 and all(ref.startswith("polecat-") for ref in archived)
    assert obs.metadata["bytes_freed"].value > 0


def test_a_failing_report_warns_and_keeps_the_deploy(gt_model, make_model, state, monkeypatch, sample_town):
    import json

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(dg.DagsterInstance, "from_config", broken)
    make_model("polecat", good=False)
    code, err = gt_model("deploy", "polecat-v1", "--rig", "gastown", "--role", "polecat", "--force", "--reason", "r")
    assert code == 0 and "not reported to the Dagster UI: OSError: disk full" in err
    settings = json.loads((sample_town / "gastown/settings/config.json").read_text())
    assert settings["role_agents"]["polecat"] == "node0-polecat"
