"""``make run``'s main job as a user runs it (a child process), on a tiny budget set the way an operator
would (``<state>/resources.yaml``): one Dagster run of ``role_model_job`` holds the whole lineage, from the
corpus to the deployment the eval gate let through."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHAIN = ["collected_records", "scrubbed_records", "corpus_version", "role_adapter", "exported_model", "eval_report",
         "registry_entry", "role_deployment"]


def _tiny_settings(state: Path) -> None:
    thresholds = state / "thresholds.yaml"
    thresholds.write_text(yaml.safe_dump({"overall": 0.0, "min_cases": 1, "max_regression": 1.0}))
    (state / "resources.yaml").write_text(yaml.safe_dump({
        "trainer": {"mode": "inprocess", "sft": {"max_seq_len": 128, "lora.r": 4, "lora.lora_alpha": 8,
                                                 "gradient_accumulation_steps": 1}},
        "exporter": {"quants": ["q8_0"]},
        "evaluator": {"limit": 1, "max_new_tokens": 8, "max_corpus_tasks": 2, "thresholds_yaml": str(thresholds)},
    }))


def test_main_job_is_one_run_from_corpus_to_deployment(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    _tiny_settings(state)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
           "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}   # no `bd`: the job bead is recorded
    for var in ("GT_ROOT", "GASTOWN_FT_HOME", "DAGSTER_HOME"):
        env.pop(var, None)
    res = subprocess.run([sys.executable, "-m", "gastown_assets.main_job", "--state-dir", str(state), "--no-real-data",
                          "--base", "smollm2-135m", "--max-steps", "1", "--train-minutes", "0"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    for n, title in enumerate(["corpus: collect", "corpus: scrub", "corpus: format", "role adapter", "export",
                               "eval report", "registry entry", "deploy into the town settings"], start=1):
        assert f"\n== {n}. {title}" in out, out[-3000:]
    assert "deployed deacon-v1@1 as node0-deacon" in out
    assert "leaked" not in res.stderr

    with dg.DagsterInstance.from_config(str(state / "dagster_home")) as instance:
        [run] = instance.get_runs()
        assert run.job_name == "role_model_job" and run.tags["dagster/partition"] == "deacon"
        mats = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        done = [r.event_log_entry.dagster_event.asset_key.to_user_string() for r in mats]
        assert sorted(done) == sorted(CHAIN)
        # typed handles (resources/handles.py) and the DuckDB lineage name the same artifacts
        handles = {r.event_log_entry.dagster_event.asset_key.to_user_string():
                   r.event_log_entry.asset_materialization.metadata["handle"].value
                   for r in mats if "handle" in r.event_log_entry.asset_materialization.metadata}
        assert {k: h["type"] for k, h in handles.items()} == {
            "collected_records": "CollectionHandle", "corpus_version": "CorpusVersionHandle",
            "role_adapter": "AdapterHandle", "exported_model": "ExportHandle", "eval_report": "EvalReportHandle",
            "registry_entry": "ModelHandle"}
        from node0_ops.evals.store import eval_report_row, export_row
        from node0_ops.lineage.db import LineageDB

        db = LineageDB(state / "lineage.duckdb")
        export = export_row(db, handles["exported_model"]["export_dir"])
        assert export["adapter_dir"] == handles["role_adapter"]["adapter_dir"]
        assert export["corpus_version"] == handles["role_adapter"]["corpus_version"] == \
            handles["corpus_version"]["corpus_version"]
        report = eval_report_row(db, handles["eval_report"]["report_id"])
        assert report["export_dir"] == handles["exported_model"]["export_dir"]
        assert report["model_label"] == handles["registry_entry"]["model"] == "deacon-v1@1"
        checks = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        names = {r.event_log_entry.dagster_event.event_specific_data.check_name for r in checks}
        assert {"registry_entry_eval_threshold", "corpus_version_no_secrets", "corpus_version_expectations"} <= names
    settings = json.loads((state / "town" / "settings" / "config.json").read_text())
    assert settings["agents"]["node0-deacon"]["args"][:2] == ["--model", "deacon-v1@1"]
