"""The loop closed end to end: edit a CLAUDE.md in a test town -> the drift sensor requests a retrain
of the affected role -> that run (corpus -> role adapter -> export -> eval -> registry entry, with the
blocking eval-gate check) completes -> a new candidate version is in the registry.

Real SmolLM2-135M with a tiny budget set the way an operator would, in ``<state>/resources.yaml``
(1 optimizer step, short sequences, one suite task per category, permissive thresholds file).
"""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from node0_ops.registry.schema import registry_db
from node0_ops.registry.store import lineage, list_models
from sensors.common import RETRAIN_KEYS
from sensors.convention_drift import convention_drift_sensor

pytestmark = pytest.mark.slow

RULE = "\n## Landing work\nAlways run `bd sync` before `gt done`, and never push to main directly.\n"


def _tiny_settings(state) -> None:
    thresholds = state / "thresholds.yaml"
    thresholds.write_text(yaml.safe_dump({"overall": 0.0, "min_cases": 1, "max_regression": 1.0}))
    (state / "resources.yaml").write_text(yaml.safe_dump({
        "trainer": {"mode": "inprocess", "sft": {"max_steps": 1, "max_seq_len": 128, "lora.r": 4, "lora.lora_alpha": 8,
                                                 "gradient_accumulation_steps": 1, "eval_every": 0,
                                                 "checkpoint_every": 0}},
        "exporter": {"quants": ["q8_0"]},
        "evaluator": {"limit": 1, "max_new_tokens": 8, "max_corpus_tasks": 2, "thresholds_yaml": str(thresholds)},
    }))


def test_claude_md_edit_retrains_the_affected_role_into_a_new_candidate(env, monkeypatch):
    from gastown_assets import definitions
    from resources.settings import configured_resources

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `bd`: the training bead is recorded for replay
    _tiny_settings(env.state)
    reg = registry_db(env.state)
    with reg.write() as con:  # crew's active model was trained on the baseline corpus
        con.execute("""insert into models (name, role, version, status, corpus_version, eval_score)
                       values ('crew-v1', 'crew', 1, 'active', ?, 0.9)""", [env.corpus_version])
    defs = dg.Definitions(assets=list(definitions.defs.assets), asset_checks=list(definitions.defs.asset_checks),
                          sensors=[convention_drift_sensor],
                          resources={**configured_resources(env.state), **env.resources})

    cursor = env.tick(convention_drift_sensor).cursor
    env.append("CLAUDE.md", RULE)
    ctx = dg.build_sensor_context(instance=env.instance, cursor=cursor, definitions=defs, resources=env.resources)
    requests = convention_drift_sensor.evaluate_tick(ctx).run_requests
    assert [r.partition_key for r in requests] == ["crew"]
    req = requests[0]

    job = defs.get_repository_def().get_implicit_job_def_for_assets(req.asset_selection)
    tags = {k: v for k, v in req.tags.items() if not k.startswith("dagster/")}
    result = job.execute_in_process(instance=env.instance, partition_key=req.partition_key, tags=tags,
                                    asset_selection=req.asset_selection, raise_on_error=False)
    failures = [e.message for e in result.all_events if e.is_failure]
    assert result.success, failures

    done = sorted(e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events())
    assert done == sorted(k.to_user_string() for k in RETRAIN_KEYS)
    gate = [e for e in result.get_asset_check_evaluations() if e.check_name == "registry_entry_eval_threshold"]
    assert gate and gate[0].passed

    run = env.instance.get_run_by_id(result.run_id)
    assert run.tags["gtft/trigger"] == "drift" and run.tags["gtft/changed_files"] == "CLAUDE.md"
    models = {m["version"]: m for m in list_models(reg, role="crew")}
    assert sorted(models) == [1, 2] and models[1]["status"] == "active" and models[2]["status"] == "candidate"
    new = models[2]
    assert new["corpus_version"] != env.corpus_version  # trained on the corpus that has the edit
    edited = hashlib.sha256((env.town / "CLAUDE.md").read_bytes()).hexdigest()
    members = env.db().scalar("""select count(*) from corpus_version_members m join examples e on e.example_id = m.item_id
        cross join unnest(e.record_ids) as u(rid) join records r on r.record_id = u.rid
        where m.corpus_version = ? and r.path = ? and r.sha256 = ?""",
                              [new["corpus_version"], str(env.town / "CLAUDE.md"), edited])
    assert members > 0, "the new corpus version must contain examples from the edited CLAUDE.md"
    (role_adapter,) = [a for a in lineage(reg, new["ref"])["adapters"] if a["kind"] == "role"]
    adapter = json.loads((Path(role_adapter["path"]) / "gastown_adapter.json").read_text())
    assert adapter["corpus_version"] == new["corpus_version"]
    assert any(k.startswith("gguf_") for k in new["artifacts"])
    # the training job lives as a bead to the end (issue 13): it depends on the new corpus version's
    # collection bead, gets a note per phase and is closed with the registry ref by the passing gate
    from node0_ops.registry.beads import find_job, transitions

    job_id = find_job(reg, "role", f"role:crew:{new['corpus_version']}")
    argvs = [t["argv"] for t in transitions(reg, job_id)]
    assert argvs[1] == ["bd", "dep", "add", "{bead_id}", "{bead:" + find_job(reg, "corpus", new["corpus_version"]) + "}"]
    phases = [a[-1].split(",")[0] for a in argvs if "--append-notes" in a]
    assert phases == ["phase: prepare done", "phase: train done", "phase: export done", "phase: eval done"]
    assert argvs[-1] == ["bd", "close", "{bead_id}", "--reason", f"registered {new['ref']} (eval gate passed)"]
