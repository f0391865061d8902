"""New-sessions sensor: a new transcript -> one dynamic partition + one run; collected by
session_records into the current snapshot; the same tick again -> nothing new."""

import json
import os
import time

import dagster as dg

from gastown_assets.defs.intake.assets import session_records
from gastown_assets.defs.intake.partitions import session_partitions
from node0_ops.corpus import pipeline, store
from node0_ops.drift.decisions import list_decisions
from sensors.new_sessions import new_sessions_sensor

SOURCE = ".claude/projects/-home-alice-gt-gastown-polecats-toast/12a60f78-4de1-402e-8852-ebee1dbdfea1.jsonl"
NEW_ID = "5f0c1d2e-7a7b-4c3d-9e8f-0a1b2c3d4e5f"
NEW = f".claude/projects/-home-alice-gt-gastown-polecats-rictus/{NEW_ID}.jsonl"


def _new_session_text(env) -> str:
    text = (env.town / SOURCE).read_text()
    return (text.replace("12a60f78-4de1-402e-8852-ebee1dbdfea1", NEW_ID).replace("toast", "rictus")
            .replace("gt-r8d1", "gt-q7x2"))


def test_known_sessions_are_not_registered_again(env):
    result = env.tick(new_sessions_sensor)
    assert result.run_requests == [] and not result.dynamic_partitions_requests
    assert "no new session" in result.skip_reason.skip_message


def test_new_session_adds_one_partition_and_one_run_then_nothing(env):
    cursor = env.tick(new_sessions_sensor).cursor
    env.add(NEW, _new_session_text(env))
    result = env.tick(new_sessions_sensor, cursor=cursor)
    assert [(r.partition_key, list(r.asset_selection)) for r in result.run_requests] == [(NEW_ID, [session_records.key])]
    assert [(a.partitions_def_name, list(a.partition_keys)) for a in result.dynamic_partitions_requests] == [
        (session_partitions.name, [NEW_ID])]
    req = result.run_requests[0]
    assert req.tags["gtft/trigger"] == "session" and req.tags["gtft/session_path"] == NEW
    assert req.tags["gtft/role"] == "polecat"
    fired = list_decisions(env.db(), sensor="new_sessions")
    assert [(d["decision"], d["roles"], d["run_keys"]) for d in fired] == [("fired", ["polecat"], [req.run_key])]

    env.instance.add_dynamic_partitions(session_partitions.name, [NEW_ID])   # what the daemon does with the request
    again = env.tick(new_sessions_sensor, cursor=result.cursor)
    assert again.run_requests == [] and not again.dynamic_partitions_requests
    # cursor lost: the partition exists, so no second add; the same run key (Dagster dedups it)
    restarted = env.tick(new_sessions_sensor)
    assert not restarted.dynamic_partitions_requests and [r.run_key for r in restarted.run_requests] == [req.run_key]


def test_live_session_waits_until_it_stops_growing(env, monkeypatch):
    monkeypatch.setenv("GTFT_SESSION_MIN_AGE_S", "600")
    cursor = env.tick(new_sessions_sensor).cursor
    path = env.add(NEW, _new_session_text(env), age_s=0)
    fresh = env.tick(new_sessions_sensor, cursor=cursor)
    assert fresh.run_requests == [] and "too fresh" in fresh.skip_reason.skip_message
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert [r.partition_key for r in env.tick(new_sessions_sensor, cursor=fresh.cursor).run_requests] == [NEW_ID]


def test_home_projects_only_sessions_of_this_town(env, tmp_path):
    """$CLAUDE_CONFIG_DIR/projects/<mangled town cwd>/: a session whose cwd is outside the town is ignored."""
    from node0_ops.corpus.transcripts import mangle_cwd

    home = tmp_path / "claude-home" / "projects"
    inside = home / mangle_cwd(env.town / "gastown" / "polecats" / "rictus")
    inside.mkdir(parents=True)
    rows = [json.loads(line) for line in _new_session_text(env).splitlines()]
    for row in rows:
        row["cwd"] = str(env.town / "gastown" / "polecats" / "rictus")
    (inside / f"{NEW_ID}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    other = home / (mangle_cwd(env.town) + "-old")          # mangles like <town>/old but is <town>-old
    other.mkdir(parents=True)
    for row in rows:
        row["cwd"] = str(env.town) + "-old"
    (other / "0d9c8b7a-1111-4222-8333-944455566677.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    old = time.time() - 3600
    for p in (inside / f"{NEW_ID}.jsonl", other / "0d9c8b7a-1111-4222-8333-944455566677.jsonl"):
        os.utime(p, (old, old))
    result = env.tick(new_sessions_sensor)
    assert [r.partition_key for r in result.run_requests] == [NEW_ID]


def test_session_records_collects_scrubs_and_extends_the_snapshot(env):
    path = env.add(NEW, _new_session_text(env))
    result = env.tick(new_sessions_sensor)
    key = result.run_requests[0].partition_key
    env.instance.add_dynamic_partitions(session_partitions.name, [key])
    res = dg.materialize([session_records], partition_key=key, instance=env.instance, resources=env.resources)
    assert res.success
    md = res.get_asset_materialization_events()[0].materialization.metadata
    assert md["n_records"].value == 1 and md["role"].value == "polecat"

    db = env.db()
    current = {r["path"]: r["scope"] for r in db.query("select path, scope from current_sources")}
    assert current[str(path)] == "session" and len([s for s in current.values() if s == "full"]) > 10
    scrubbed = db.scalar("select count(*) from records where path = ? and scrubbed_payload is not null", [str(path)])
    assert scrubbed == 1

    # downstream re-format: the new corpus version holds the session and examples from it
    version = pipeline.format_stage(db, town_root=str(env.town), out_dir=env.state / "corpus")["corpus_version"]
    assert version != env.corpus_version
    hashes = json.loads(db.scalar("select source_hashes from corpus_versions where corpus_version = ?", [version]))
    assert str(path) in hashes
    from_session = [e for e in store.load_examples(db, version) if any(
        db.scalar("select path from records where record_id = ?", [rid]) == str(path) for rid in e["record_ids"])]
    assert from_session and {e["role"] for e in from_session} == {"polecat"}
    # ingested now: a restarted sensor (no cursor) does not ask again
    assert env.tick(new_sessions_sensor).run_requests == []


def test_unknown_partition_fails_with_a_clear_message(env):
    env.instance.add_dynamic_partitions(session_partitions.name, ["not-a-session"])
    res = dg.materialize([session_records], partition_key="not-a-session", instance=env.instance,
                         resources=env.resources, raise_on_error=False)
    assert not res.success
    failure = [e for e in res.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "not in intake_sessions" in failure.event_specific_data.error.message


def test_partition_add_and_run_in_one_tick_resolve_in_the_code_location(env):
    """Dagster accepts a run for a partition added by the same tick's dynamic-partitions request."""
    from gastown_assets import definitions
    from gastown_assets.defs.intake import intake_assets, intake_checks
    from sensors import all_sensors

    keys = {k for a in definitions.defs.assets for k in a.keys}
    have_intake = session_records.key in keys
    defs = dg.Definitions(
        assets=list(definitions.defs.assets) + ([] if have_intake else intake_assets),
        asset_checks=list(definitions.defs.asset_checks) + ([] if have_intake else intake_checks),
        jobs=list(definitions.defs.jobs), sensors=all_sensors,
        resources={**definitions.build_resources(), **env.resources})
    env.add(NEW, _new_session_text(env))
    # instance_ref, as the code server passes it: Dagster resolves dynamic partition keys through it
    ctx = dg.build_sensor_context(instance=env.instance, instance_ref=env.instance.get_ref(), definitions=defs,
                                  resources=env.resources)
    data = new_sessions_sensor.evaluate_tick(ctx)
    assert [(r.partition_key, r.tags["dagster/partition"]) for r in data.run_requests] == [(NEW_ID, NEW_ID)]
    assert [list(r.partition_keys) for r in data.dynamic_partitions_requests] == [[NEW_ID]]


def test_nothing_is_taken_before_the_first_full_collection(bare_env):
    result = bare_env.tick(new_sessions_sensor)
    assert result.run_requests == [] and "no full collection yet" in result.skip_reason.skip_message
