"""The blocking gate check evaluates its own role partition's report, never the newest report of
another role (issue 11: the old check read the newest ``eval_reports`` row of any role)."""

import datetime as dt

import dagster as dg

from gastown_assets.defs.models.assets import registry_entry
from gastown_assets.defs.models.checks import registry_entry_eval_threshold
from node0_ops.evals.report import CaseResult, EvalReport
from node0_ops.lineage.db import upsert
from resources import LineageResource
from resources.evaluator import EvaluatorResource
from tests.graph_helpers import sources, with_io


def _report(role, passed: bool) -> EvalReport:
    cases = [CaseResult(f"t{i}", "patrol-decision", role, passed, float(passed), [] if passed else ["bad"], "a", "p", 0.1)
             for i in range(4)]
    return EvalReport(f"node0-{role}", "v2", False, cases)


def test_gate_reads_the_partitions_own_report(tmp_path):
    lineage = LineageResource(state_dir=str(tmp_path))
    db = lineage.db()
    now = dt.datetime.now()
    with db.write() as con:
        for rid, role, ok, age in [("deacon-1", "deacon", False, 60), ("witness-1", "witness", True, 0)]:
            rep = _report(role, ok)
            upsert(con, "eval_reports", [{"report_id": rid, "role": role, "model_label": f"{role}-v1@1",
                                          "created_at": now - dt.timedelta(seconds=age), "overall": rep.overall.rate,
                                          "base_overall": 0.0, "report": rep.to_json(), "base_report": _report(role, False).to_json()}])
    instance = dg.DagsterInstance.ephemeral()
    for role, rid in [("deacon", "deacon-1"), ("witness", "witness-1")]:
        instance.report_runless_asset_event(dg.AssetMaterialization(registry_entry.key, partition=role, metadata={
            "model": f"{role}-v1@1", "eval_report_id": rid}))
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("overall: 0.5\nmin_cases: 1\n")
    resources = with_io({"lineage": lineage, "evaluator": EvaluatorResource(thresholds_yaml=str(thresholds))})
    outcome = {}
    for role in ("deacon", "witness"):
        res = dg.materialize([registry_entry, registry_entry_eval_threshold, *sources("eval_report")], resources=resources, instance=instance,
                             selection=dg.AssetSelection.checks(registry_entry_eval_threshold),
                             tags={"dagster/partition": role}, raise_on_error=False)
        (ev,) = res.get_asset_check_evaluations()
        outcome[role] = (ev.passed, ev.metadata["report_id"].value)
    # the newest report overall is witness's passing one: deacon must still be gated on its own failing one
    assert outcome == {"deacon": (False, "deacon-1"), "witness": (True, "witness-1")}


def test_gate_closes_the_training_bead_when_passed_and_blocks_it_with_reasons_when_not(tmp_path):
    """Training jobs as beads to the end: open after training, closed with the registry ref only by a
    passing gate, left open + blocked with the gate's reasons otherwise (bd absent: recorded for replay)."""
    from node0_ops.registry.beads import TrainingJob, transitions
    from node0_ops.registry.schema import registry_db

    lineage = LineageResource(state_dir=str(tmp_path))
    db = lineage.db()
    instance = dg.DagsterInstance.ephemeral()
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("overall: 0.5\nmin_cases: 1\n")
    resources = with_io({"lineage": lineage, "evaluator": EvaluatorResource(thresholds_yaml=str(thresholds))})
    final = {}
    for role, ok in (("deacon", False), ("witness", True)):
        with TrainingJob(registry_db(tmp_path), f"Train {role}", bd=None, echo=lambda s: None, keep_open=True) as job:
            job.phase("train", run_id="r1")
        assert job.status == "in_progress"               # training alone does not close the job
        adapter, export = str(tmp_path / f"a-{role}"), str(tmp_path / f"e-{role}")
        rep = _report(role, ok)
        with db.write() as con:
            upsert(con, "exports", [{"export_dir": export, "role": role, "adapter_dir": adapter}])
            upsert(con, "eval_reports", [{"report_id": f"{role}-1", "role": role, "model_label": f"{role}-v1@1",
                                          "export_dir": export, "created_at": dt.datetime.now(), "overall": rep.overall.rate,
                                          "base_overall": 0.0, "report": rep.to_json(), "base_report": rep.to_json()}])
        instance.report_runless_asset_event(dg.AssetMaterialization("role_adapter", partition=role, metadata={
            "job_id": job.job_id, "adapter_dir": dg.MetadataValue.path(adapter)}))
        instance.report_runless_asset_event(dg.AssetMaterialization(registry_entry.key, partition=role, metadata={
            "model": f"{role}-v1@1", "eval_report_id": f"{role}-1"}))
        dg.materialize([registry_entry, registry_entry_eval_threshold, *sources("eval_report")], resources=resources,
                       instance=instance,
                       selection=dg.AssetSelection.checks(registry_entry_eval_threshold),
                       tags={"dagster/partition": role}, raise_on_error=False)
        rows = transitions(registry_db(tmp_path), job.job_id)
        final[role] = (rows[-1]["status"], rows[-1]["argv"])
    assert final["witness"] == ("closed", ["bd", "close", "{bead_id}", "--reason", "registered witness-v1@1 (eval gate passed)"])
    status, argv = final["deacon"]
    assert status == "blocked" and argv[-2:] == ["--status", "blocked"]
    notes = [r["argv"][-1] for r in transitions(registry_db(tmp_path)) if "--append-notes" in r["argv"]]
    assert any("eval gate: overall: pass rate 0.00" in n for n in notes), notes
