"""Eval-regression sensor: eval_report materializations below threshold or below the previous
active model are flagged; with rollback_on_regression the registry rolls the deploy back."""

import json

import dagster as dg
import pytest

from node0_ops.drift.decisions import list_decisions
from node0_ops.drift.status import format_sensor_status, sensor_status
from node0_ops.evals.report import CaseResult, EvalReport
from node0_ops.registry.deploy import deploy
from node0_ops.registry.schema import registry_db
from node0_ops.registry.store import get_model, register_model
from sensors.eval_regression import eval_regression_sensor

RIG = "gastown"


def _report(role: str, passed: int, n: int = 10) -> dict:
    cases = [CaseResult(task_id=f"t{i}", category="conventions", role=role, passed=i < passed,
                        score=1.0 if i < passed else 0.0, errors=[], answer="bd ready", prompt="p", latency_s=0.1)
             for i in range(n)]
    return EvalReport(f"{role}-m", "suite:1", False, cases).to_dict()


@pytest.fixture
def env(bare_env):
    return bare_env


@pytest.fixture
def registry(env):
    """A registry with polecat-v1 (score 0.9) and polecat-v2 (0.8), both deployed to the gastown rig
    in order, so v2 is active and v1 is the previous active model."""
    db = registry_db(env.state)
    refs = []
    for n, passed in ((1, 9), (2, 8)):
        adapter = env.state / "adapters" / f"polecat-{n}"
        adapter.mkdir(parents=True)
        (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
        (adapter / "adapter_model.safetensors").write_bytes(bytes([n]) * 64)
        (adapter / "gastown_adapter.json").write_text(json.dumps({"kind": "role", "role": "polecat", "base": "smollm2-135m"}))
        gguf = env.state / "exports" / f"polecat-{n}" / "model-q4_k_m.gguf"
        gguf.parent.mkdir(parents=True)
        gguf.write_bytes(b"Q" * 128)
        refs.append(register_model(db, "polecat", None, [{"path": adapter}], {"q4_k_m": gguf},
                                   eval_report=_report("polecat", passed)))
        deploy(db, refs[-1], town_root=env.town, rig=RIG, role="polecat", force=True, override_rollout=True,
               reason="test setup")
    return db, refs, env.resources


def _report_eval(env, role: str, score: float, threshold: float, model: str) -> None:
    env.instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="eval_report", partition=role,
        metadata={"overall_score": score, "threshold": threshold, "model": model, "role": role}))


def _tick(env, resources, cursor=None):
    ctx = dg.build_sensor_context(instance=env.instance, cursor=cursor, resources=resources)
    return eval_regression_sensor(ctx)


def test_regressions_are_flagged_and_good_reports_pass(env, registry):
    db, (v1, v2), resources = registry
    assert get_model(db, v2)["status"] == "active"
    _report_eval(env, "polecat", 0.55, 0.7, "polecat-v3@3")    # a candidate below the threshold
    _report_eval(env, "polecat", 0.75, 0.7, "polecat-v3@3")    # above threshold, below the active v2 (0.8)
    _report_eval(env, "polecat", 0.85, 0.7, "polecat-v3@3")    # fine
    first = _tick(env, resources)
    rows = sorted(list_decisions(db, sensor="eval_regression"), key=lambda r: r["score"])
    assert [(r["decision"], r["score"]) for r in rows] == [("flagged", 0.55), ("flagged", 0.75), ("skipped", 0.85)]
    assert "score 0.550 < threshold 0.700" in rows[0]["detail"]["reasons"][0]
    assert rows[1]["detail"]["reasons"] == [f"score 0.750 < {v2}'s 0.800"]
    assert rows[0]["detail"]["rollback"]["action"] == "none"   # an undeployed candidate: nothing to roll back
    assert get_model(db, v2)["status"] == "active"

    again = _tick(env, resources, cursor=first.cursor)
    assert again.skip_reason.skip_message == "no new eval report"
    assert sensor_status(db)["ticks"]["eval_regression"]["outcome"] == "no new eval report"
    assert len(list_decisions(db, sensor="eval_regression")) == 3


def test_active_model_regression_rolls_back_in_a_run_when_configured(env, registry):
    from gastown_assets.defs.models.rollback import eval_regression_rollback

    db, (v1, v2), resources = registry
    (env.state / "sensors.yaml").write_text("eval_regression:\n  rollback_on_regression: true\n")
    _report_eval(env, "polecat", 0.6, 0.5, v2)     # re-evaluated active v2 falls below its predecessor v1 (0.9)
    tick = _tick(env, resources)
    [decided] = list_decisions(db, sensor="eval_regression")
    assert decided["decision"] == "flagged" and decided["detail"]["reference"]["model"] == v1
    assert decided["detail"]["rollback"] == {"action": "requested", "model": v2, "scopes": [RIG]}
    assert get_model(db, v2)["status"] == "active"          # the tick itself changes nothing
    [req] = tick.run_requests
    assert req.run_key.startswith("rollback-eval-") and req.tags["gtft/rollback_of"] == v2

    run = eval_regression_rollback.execute_in_process(run_config=req.run_config, instance=env.instance,
                                                      resources=resources)
    assert run.success
    fired = list_decisions(db, sensor="eval_regression", decision="fired")
    assert len(fired) == 1 and fired[0]["detail"]["rollback"]["action"] == "rolled_back"
    assert fired[0]["run_keys"] == [run.run_id]
    assert get_model(db, v1)["status"] == "active" and get_model(db, v2)["status"] == "archived"
    settings = json.loads((env.town / RIG / "settings" / "config.json").read_text())
    assert settings["agents"]["node0-polecat"]["args"][1] == v1
    [mat] = [r.asset_materialization for r in
             env.instance.fetch_materializations(dg.AssetKey("role_deployment"), limit=5).records]
    assert mat.partition == "polecat" and mat.metadata["previous_model"].value == v2
    assert mat.metadata["model"].value == v1 and "0.600" in mat.metadata["reason"].value
    lines = format_sensor_status(sensor_status(db))
    assert any("polecat" in line and "eval_regression" in line and "fired" in line for line in lines)

    again = eval_regression_rollback.execute_in_process(run_config=req.run_config, instance=env.instance,
                                                        resources=resources, raise_on_error=False)
    assert not again.success                                # v2 is no longer deployed there: a clear failure
    failure = next(e for e in again.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert f"rollback of {v2} (polecat) did not happen" in failure.description


def test_regression_with_rollback_off_requests_no_run(env, registry):
    db, (v1, v2), resources = registry
    _report_eval(env, "polecat", 0.3, 0.5, v2)
    tick = _tick(env, resources)
    assert not tick.run_requests
    assert get_model(db, v2)["status"] == "active"


def test_without_rollback_it_records_what_it_would_have_done(env, registry):
    db, (v1, v2), resources = registry
    _report_eval(env, "polecat", 0.3, 0.5, v2)
    _tick(env, resources)
    row = list_decisions(db, sensor="eval_regression")[0]
    assert row["decision"] == "flagged"
    assert row["detail"]["rollback"] == {"action": "would_roll_back", "model": v2, "scopes": [RIG],
                                         "why": "rollback_on_regression is off"}
    assert get_model(db, v2)["status"] == "active"


def test_reports_without_registry_compare_with_the_threshold_only(env):
    _report_eval(env, "witness", 0.4, 0.6, "node0-witness")
    _report_eval(env, "witness", 0.7, 0.6, "node0-witness")
    _tick(env, env.resources)
    rows = sorted(list_decisions(env.db(), sensor="eval_regression"), key=lambda r: r["score"])
    assert [(r["decision"], r["roles"]) for r in rows] == [("flagged", ["witness"]), ("skipped", ["witness"])]
    assert "not a registered NAME@VERSION" in rows[0]["detail"]["rollback"]["why"]

