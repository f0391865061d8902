"""Convention-drift sensor on real files: change -> one run per affected role, no change -> none,
revert -> flagged (no run), the same tick again with its cursor -> nothing new."""

import json

import dagster as dg
import pytest

from gastown_assets.defs.corpus.assets import corpus_version
from gastown_assets.defs.intake.checks import corpus_version_reverted_conventions
from node0_ops.corpus.collect import collect_paths
from node0_ops.corpus.format_sft import build_examples
from node0_ops.drift.decisions import flagged_reversions, list_decisions
from node0_ops.drift.status import format_sensor_status, sensor_status
from node0_ops.drift.watch import scan
from sensors.common import RETRAIN_KEYS
from sensors.convention_drift import convention_drift_sensor

RULE = "\n## Landing work\nAlways run `bd sync` before `gt done`, and never push to main directly.\n"


def _role_counts(env, rel: str) -> dict[str, int]:
    """Examples per role the baseline corpus derived from one town file (independent SQL)."""
    rows = env.db().query("""
        select e.role, count(distinct e.example_id) as n from examples e
        join corpus_version_members m on m.item_id = e.example_id and m.item_kind = 'example'
        cross join unnest(e.record_ids) as u(rid) join records r on r.record_id = u.rid
        where m.corpus_version = ? and r.path = ? group by 1""", [env.corpus_version, str(env.town / rel)])
    return {r["role"]: r["n"] for r in rows}


def _expected_score(env, role: str, rel: str) -> float:
    """drift_role for one changed file, from the corpus lineage and the formatter, per the documented formula."""
    watched = set(scan(env.town))
    per_file = {p: _role_counts(env, p[len(str(env.town)) + 1:]).get(role, 0) for p in watched}
    changed = str(env.town / rel)
    res = collect_paths([env.town / rel], town_root=env.town)
    now = sum(1 for e in build_examples(res.records) if e.role == role)
    per_file[changed] = max(per_file[changed], now)
    return per_file[changed] / sum(per_file.values())


def test_no_change_requests_nothing(env):
    first = env.tick(convention_drift_sensor)
    assert first.run_requests == [] and first.skip_reason is not None
    again = env.tick(convention_drift_sensor, cursor=first.cursor)
    assert again.run_requests == [] and "no watched file changed" in again.skip_reason.skip_message
    assert list_decisions(env.db(), sensor="convention_drift") == []
    assert sensor_status(env.db())["ticks"]["convention_drift"]["outcome"] == again.skip_reason.skip_message


def test_changed_claude_md_requests_one_run_per_affected_role(env):
    affected = sorted(_role_counts(env, "CLAUDE.md"))
    assert affected, "the sample town's CLAUDE.md feeds at least one role"
    cursor = env.tick(convention_drift_sensor).cursor
    env.append("CLAUDE.md", RULE)

    result = env.tick(convention_drift_sensor, cursor=cursor)
    assert sorted(r.partition_key for r in result.run_requests) == affected
    req = result.run_requests[0]
    assert list(req.asset_selection) == RETRAIN_KEYS
    assert req.tags["gtft/trigger"] == "drift" and req.tags["gtft/changed_files"] == "CLAUDE.md"
    assert float(req.tags["gtft/drift_score"]) == pytest.approx(_expected_score(env, req.partition_key, "CLAUDE.md"), abs=1e-4)
    fired = list_decisions(env.db(), sensor="convention_drift", decision="fired")
    assert [d["run_keys"] for d in fired] == [[req.run_key]]
    assert fired[0]["files"][0]["path"] == "CLAUDE.md" and fired[0]["detail"]["baseline"] == env.corpus_version

    # the same tick again with the returned cursor: nothing new
    again = env.tick(convention_drift_sensor, cursor=result.cursor)
    assert again.run_requests == []
    # a restart that lost its cursor asks for the same run key (Dagster dedups it) and rewrites its row
    restarted = env.tick(convention_drift_sensor)
    assert [r.run_key for r in restarted.run_requests] == [req.run_key]
    assert len(list_decisions(env.db(), sensor="convention_drift", decision="fired")) == 1


def test_role_directive_change_moves_only_that_role(env):
    cursor = env.tick(convention_drift_sensor).cursor
    env.append("directives/polecat.md", "\n- Polecats run the full test suite before `gt done`.\n")
    result = env.tick(convention_drift_sensor, cursor=cursor)
    assert [r.partition_key for r in result.run_requests] == sorted(_role_counts(env, "directives/polecat.md")) == ["polecat"]


def test_settings_edit_is_recorded_but_moves_no_role(env):
    cursor = env.tick(convention_drift_sensor).cursor
    path = env.town / "settings" / "config.json"
    doc = json.loads(path.read_text())
    doc["cli_theme"] = "dark" if doc.get("cli_theme") != "dark" else "light"
    env.edit("settings/config.json", json.dumps(doc, indent=2))
    result = env.tick(convention_drift_sensor, cursor=cursor)
    assert result.run_requests == []
    skipped = list_decisions(env.db(), sensor="convention_drift", decision="skipped")
    assert [(d["roles"], [f["path"] for f in d["files"]]) for d in skipped] == [([], ["settings/config.json"])]


def test_threshold_comes_from_the_state_settings_file(env):
    (env.state / "sensors.yaml").write_text("drift:\n  threshold: 0.99\n")
    cursor = env.tick(convention_drift_sensor).cursor
    env.append("CLAUDE.md", RULE)
    result = env.tick(convention_drift_sensor, cursor=cursor)
    assert result.run_requests == []
    skipped = list_decisions(env.db(), sensor="convention_drift", decision="skipped")
    assert {r for d in skipped for r in d["roles"]} == set(_role_counts(env, "CLAUDE.md"))
    assert all(0 < d["score"] < 0.99 for d in skipped)


def test_invalid_settings_file_fails_the_tick_with_the_key_named(env):
    (env.state / "sensors.yaml").write_text("drift:\n  threshold: 3\n")
    with pytest.raises(dg.Failure, match="drift.threshold=3"):
        env.tick(convention_drift_sensor)


def test_revert_is_flagged_for_review_not_retrained(env):
    c0 = env.tick(convention_drift_sensor).cursor
    env.append("CLAUDE.md", RULE)
    c1 = env.tick(convention_drift_sensor, cursor=c0)
    assert len(c1.run_requests) == 1
    env.restore()   # back to the content the corpus was built from
    reverted = env.tick(convention_drift_sensor, cursor=c1.cursor)
    assert reverted.run_requests == []
    flags = flagged_reversions(env.db())
    assert [(f["rel"], f["to_version"], f["n_versions"]) for f in flags] == [("CLAUDE.md", 1, 2)]
    assert env.tick(convention_drift_sensor, cursor=reverted.cursor).run_requests == []

    # the check reads the corpus version Dagster recorded for corpus_version (the baseline build)
    env.instance.report_runless_asset_event(dg.AssetMaterialization(
        "corpus_version", metadata={"corpus_version": env.corpus_version}))
    res = dg.materialize([corpus_version, corpus_version_reverted_conventions], instance=env.instance,
                         resources=env.resources, selection=dg.AssetSelection.checks(corpus_version_reverted_conventions))
    (check,) = res.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["n_reverted"].value == 1 and check.metadata["corpus_version"].value == env.corpus_version
    lines = format_sensor_status(sensor_status(env.db()))
    assert any(line.strip().startswith("! review: CLAUDE.md reverted to version 1 of 2") for line in lines)


def test_reverted_file_is_not_counted_when_another_file_changes(env):
    c0 = env.tick(convention_drift_sensor).cursor
    env.append("CLAUDE.md", RULE)
    c1 = env.tick(convention_drift_sensor, cursor=c0).cursor
    env.append("CLAUDE.md", "\nA second rule.\n")
    c2 = env.tick(convention_drift_sensor, cursor=c1).cursor
    env.edit("CLAUDE.md", (env.town / "CLAUDE.md").read_text().replace("\nA second rule.\n", ""))  # back to v2
    c3 = env.tick(convention_drift_sensor, cursor=c2)
    assert c3.run_requests == [] and flagged_reversions(env.db())[0]["to_version"] == 2
    env.append("directives/polecat.md", "\n- Polecats never force-push.\n")
    result = env.tick(convention_drift_sensor, cursor=c3.cursor)
    assert [(r.partition_key, r.tags["gtft/changed_files"]) for r in result.run_requests] == [
        ("polecat", "directives/polecat.md")]


def test_active_model_corpus_is_the_baseline(env):
    """With an active model trained on an older corpus, drift is measured against that corpus."""
    from node0_ops.corpus import pipeline
    from node0_ops.corpus.scrub import Scrubber
    from node0_ops.registry.schema import registry_db

    env.append("CLAUDE.md", RULE)
    db = env.db()
    pipeline.collect_stage(db, env.town)
    pipeline.scrub_stage(db, Scrubber())
    newer = pipeline.format_stage(db, town_root=str(env.town), out_dir=env.state / "corpus")["corpus_version"]
    assert newer != env.corpus_version
    # no active model: the latest corpus (which has the edit) is the baseline -> nothing to do
    assert env.tick(convention_drift_sensor).run_requests == []

    reg = registry_db(env.state)
    with reg.write() as con:
        con.execute("""insert into models (name, role, version, status, corpus_version, eval_score)
                       values ('crew-v1', 'crew', 1, 'active', ?, 0.9)""", [env.corpus_version])
    result = env.tick(convention_drift_sensor)
    assert [r.partition_key for r in result.run_requests] == ["crew"]
    assert result.run_requests[0].tags["gtft/baseline_corpus"] == env.corpus_version
    fired = list_decisions(env.db(), decision="fired")
    assert fired[0]["detail"]["baseline_source"] == "active-model" and fired[0]["detail"]["model"] == "crew-v1@1"


def test_run_request_mixing_corpus_and_role_assets_resolves_in_the_code_location(env):
    """Dagster accepts unpartitioned corpus assets + role-partitioned assets with one partition key."""
    from gastown_assets import definitions
    from gastown_assets.defs.intake import intake_assets, intake_checks
    from sensors import all_sensors

    keys = {k for a in definitions.defs.assets for k in a.keys}
    missing = [k for k in RETRAIN_KEYS if k not in keys]
    assert not missing, f"the code location lacks {missing}"
    have_intake = any(k.to_user_string() == "session_records" for k in keys)
    defs = dg.Definitions(
        assets=list(definitions.defs.assets) + ([] if have_intake else intake_assets),
        asset_checks=list(definitions.defs.asset_checks) + ([] if have_intake else intake_checks),
        jobs=list(definitions.defs.jobs), sensors=all_sensors,
        resources={**definitions.build_resources(), **env.resources})
    cursor = env.tick(convention_drift_sensor).cursor
    env.append("CLAUDE.md", RULE)
    ctx = dg.build_sensor_context(instance=env.instance, cursor=cursor, definitions=defs, resources=env.resources)
    data = convention_drift_sensor.evaluate_tick(ctx)
    assert [(r.partition_key, r.tags["dagster/partition"]) for r in data.run_requests] == [("crew", "crew")]
    job = defs.get_repository_def().get_implicit_job_def_for_assets(data.run_requests[0].asset_selection)
    assert job is not None and set(RETRAIN_KEYS) <= set(job.asset_layer.selected_asset_keys)


def test_dagster_runs_unpartitioned_and_partitioned_assets_in_one_run():
    """The behaviour the retrain request relies on (Dagster 1.13): one run, partition key applies to
    the partitioned assets only; unpartitioned ones materialize without a partition."""
    roles = dg.StaticPartitionsDefinition(["crew", "polecat"])

    @dg.asset
    def corpus():
        return dg.MaterializeResult()

    @dg.asset(deps=[corpus], partitions_def=roles)
    def adapter(context: dg.AssetExecutionContext):
        return dg.MaterializeResult(metadata={"role": context.partition_key})

    with dg.instance_for_test() as instance:
        res = dg.materialize([corpus, adapter], partition_key="polecat", instance=instance)
        got = sorted((e.materialization.asset_key.to_user_string(), e.materialization.partition)
                     for e in res.get_asset_materialization_events())
    assert res.success and got == [("adapter", "polecat"), ("corpus", None)]


def test_drift_sensor_waits_for_a_first_corpus(bare_env):
    """No corpus version yet: nothing to drift from, so no retrain of every role."""
    result = bare_env.tick(convention_drift_sensor)
    assert result.run_requests == [] and "no corpus version yet" in result.skip_reason.skip_message
    assert list_decisions(bare_env.db()) == []
