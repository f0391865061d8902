"""Stages take their inputs from what Dagster recorded for their own upstream partition, never from a
table's newest row (issue 11): a newer row written outside the graph (another run, a CLI, a bench) and
another role's interleaved run do not change what a stage registers or trains on."""

import datetime as dt
import json

import dagster as dg
import pytest

from gastown_assets.defs.models.assets import registry_entry
from gastown_assets.defs.training.assets import role_adapter
from node0_ops.evals.report import CaseResult, EvalReport
from node0_ops.lineage.db import dumps, upsert
from resources import LineageResource
from tests.graph_helpers import sources, with_io


def _candidate(state, lineage: LineageResource, role: str, tag: str, created: dt.datetime) -> str:
    """Files plus ``exports``/``eval_reports`` rows of one candidate; returns its report id."""
    adapter = state / "adapters" / f"{role}-{tag}"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
    (adapter / "adapter_model.safetensors").write_bytes(tag.encode() * 64)
    (adapter / "gastown_adapter.json").write_text(json.dumps({"kind": "role", "role": role, "base": "smollm2-135m", "corpus_version": f"cv-{tag}"}))
    out = state / "exports" / role / tag
    (out / "merged").mkdir(parents=True)
    (out / "merged" / "model.safetensors").write_bytes(tag.encode() * 128)
    gguf = out / f"node0-{role}-q4_k_m.gguf"
    gguf.write_bytes(tag.encode() * 256)
    cases = [CaseResult(f"t{i}", "patrol-decision", role, True, 1.0, [], "a", "p", 0.1) for i in range(2)]
    report = EvalReport(f"node0-{role}", "v2", False, cases)
    db = lineage.db()
    result = {"out_dir": str(out), "merged_dir": str(out / "merged"), "ggufs": {"q4_k_m": str(gguf)}, "lora_ggufs": {}}
    report_id = f"{role}-{tag}"
    with db.write() as con:
        upsert(con, "exports", [{"export_dir": str(out), "role": role, "adapter_dir": str(adapter),
                                 "corpus_version": f"cv-{tag}", "created_at": created, "result": dumps(result)}])
        upsert(con, "eval_reports", [{"report_id": report_id, "role": role, "model_label": f"node0-{role}",
                                      "export_dir": str(out), "corpus_version": f"cv-{tag}", "created_at": created,
                                      "overall": 1.0, "base_overall": 0.0, "report": report.to_json(),
                                      "base_report": report.to_json()}])
    return report_id


def test_registry_entry_registers_its_own_partitions_recorded_report(tmp_path):
    lineage = LineageResource(state_dir=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    now = dt.datetime.now()
    graph_report = _candidate(tmp_path, lineage, "deacon", "graph", now - dt.timedelta(hours=1))
    instance.report_runless_asset_event(dg.AssetMaterialization("eval_report", partition="deacon",
                                                                metadata={"report_id": graph_report}))
    # newer rows: a deacon report written outside the graph, and witness's interleaved run
    _candidate(tmp_path, lineage, "deacon", "outside", now)
    witness_report = _candidate(tmp_path, lineage, "witness", "run2", now + dt.timedelta(minutes=1))
    instance.report_runless_asset_event(dg.AssetMaterialization("eval_report", partition="witness",
                                                                metadata={"report_id": witness_report}))
    res = dg.materialize([registry_entry, *sources("eval_report")], partition_key="deacon", instance=instance,
                         resources=with_io({"lineage": lineage}))
    md = res.get_asset_materialization_events()[0].materialization.metadata
    assert md["eval_report_id"].value == graph_report and md["corpus_version"].value == "cv-graph"
    assert md["model"].value == "deacon-v1@1"


def test_a_stage_whose_upstream_partition_was_never_materialized_names_it(tmp_path):
    res = dg.materialize([registry_entry, *sources("eval_report")], partition_key="boot",
                         instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                         resources=with_io({"lineage": LineageResource(state_dir=str(tmp_path))}))
    assert not res.success
    failure = next(e for e in res.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert "materialize eval_report[boot] first" in failure.description


@pytest.mark.parametrize("asset", [role_adapter])
def test_training_takes_the_recorded_corpus_version(tmp_path, asset):
    """No corpus_version materialization in the instance: training refuses, even with corpus rows in the DB."""
    from resources import TownResource
    from resources.trainer import TrainerResource

    res = dg.materialize([asset, *sources("corpus_version")], partition_key="deacon",
                         instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                         resources=with_io({"lineage": LineageResource(state_dir=str(tmp_path)),
                                            "trainer": TrainerResource(),
                                            "town": TownResource(root=str(tmp_path), state_dir=str(tmp_path))}))
    failure = next(e for e in res.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert "materialize corpus_version first" in failure.description
