"""``node0-intake`` (the SessionEnd hook): a closed transcript becomes a registered ``sessions`` partition,
bad input fails naming the file and keeps what was registered, and the new_sessions sensor (the safety
net) runs the hook's copy once and skips the original."""

import hashlib
import io
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from gastown_assets.cli.intake import main
from gastown_assets.defs.intake.assets import session_records
from gastown_assets.defs.intake.partitions import session_partitions
from node0_ops.corpus import store
from sensors.new_sessions import new_sessions_sensor

PROJECT = "-home-alice-gt-gastown-polecats-toast"
SID = "12a60f78-4de1-402e-8852-ebee1dbdfea1"
SOURCE = Path(".claude/projects") / PROJECT / f"{SID}.jsonl"


@pytest.fixture
def closed_session(sample_town, tmp_path) -> Path:
    """A sample-town transcript where Claude Code keeps it (``$CLAUDE_CONFIG_DIR/projects/<project>/``)."""
    dst = tmp_path / "claude-home" / "projects" / PROJECT / f"{SID}.jsonl"
    dst.parent.mkdir(parents=True)
    shutil.copy2(sample_town / SOURCE, dst)
    return dst


@pytest.fixture(autouse=True)
def dagster_home_restored(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)   # the CLI sets it for the state; undone after the test


def _hook(monkeypatch, state: Path, town: Path, payload, *extra: str) -> int:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    return main(["--state-dir", str(state), "--town", str(town), *extra])


def _event(path: Path, session_id: str = SID) -> dict:
    return {"session_id": session_id, "transcript_path": str(path), "cwd": "/home/alice/gt/gastown/polecats/toast",
            "hook_event_name": "SessionEnd", "reason": "exit", "permission_mode": "default"}


def _rows(state: Path) -> list[dict]:
    return store.open_db(state / "lineage.duckdb").query("select * from intake_sessions order by session_key")


def _partitions(state: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(state / "dagster_home")) as instance:
        return instance.get_dynamic_partitions(session_partitions.name)


def test_closed_session_becomes_a_registered_sessions_partition(closed_session, sample_town, state, monkeypatch,
                                                                capsys):
    assert _hook(monkeypatch, state, sample_town, _event(closed_session)) == 0
    copy = state / "intake" / "sessions" / PROJECT / f"{SID}.jsonl"
    assert copy.read_bytes() == closed_session.read_bytes() and copy.stat().st_ino != closed_session.stat().st_ino
    [row] = _rows(state)
    assert (row["session_key"], row["path"], row["status"], row["role"], row["rig"]) == (
        SID, str(copy), "requested", "polecat", "gastown")
    assert row["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest() and row["size_bytes"] == copy.stat().st_size
    assert _partitions(state) == [SID]
    assert f"session {SID} registered as a sessions partition" in capsys.readouterr().out

    assert _hook(monkeypatch, state, sample_town, _event(closed_session)) == 0   # delivered twice: nothing new
    assert "registered already" in capsys.readouterr().out
    assert _rows(state) == [row] and _partitions(state) == [SID]


def test_collect_starts_the_run_detached_with_a_command_the_cli_accepts(closed_session, sample_town, state,
                                                                         monkeypatch, capsys):
    from gastown_assets.cli import intake

    started = []
    monkeypatch.setattr(intake.subprocess, "Popen", lambda cmd, **kw: started.append((cmd, kw)))
    assert _hook(monkeypatch, state, sample_town, _event(closed_session), "--collect") == 0
    [(cmd, kw)] = started
    assert kw["start_new_session"] and kw["stdin"] == intake.subprocess.DEVNULL   # outlives the hook
    assert cmd[1:3] == ["-m", "gastown_assets.cli.intake"]
    args = intake.build_parser().parse_args(cmd[3:])
    assert (args.materialize, args.state_dir, args.town) == (SID, str(state), str(sample_town))
    log = state / "intake" / "logs" / f"{SID}.log"
    assert log.is_file() and f"collecting in the background: log {log}" in capsys.readouterr().out


@pytest.mark.parametrize("make_payload, message", [
    (lambda p: {"session_id": SID, "hook_event_name": "SessionEnd"}, "stdin: no transcript_path in the hook input"),
    (lambda p: _event(p.parent / "gone.jsonl"), "gone.jsonl: transcript not found"),
    (lambda p: _event(p.parent / "notes.md"), "notes.md: not a JSONL transcript (line 1: invalid JSON"),
    (lambda p: _event(p.parent / "empty.jsonl"), "empty.jsonl: not a JSONL transcript (whole file: empty file"),
    (lambda p: {**_event(p), "hook_event_name": "SessionStart"}, "hook_event_name is 'SessionStart'"),
    (lambda p: "session ended", "stdin: hook input is not JSON"),
])
def test_bad_input_fails_naming_the_file(make_payload, message, closed_session, sample_town, state, monkeypatch,
                                         capsys):
    (closed_session.parent / "notes.md").write_text("# Notes\n\nnot a transcript\n")
    (closed_session.parent / "empty.jsonl").write_text("")
    assert _hook(monkeypatch, state, sample_town, make_payload(closed_session)) == 1
    assert message in capsys.readouterr().err
    assert [p for p in state.rglob("*") if p.is_file()] == []   # no copy, no registration, no partition


def test_bad_redelivery_keeps_the_registered_copy(closed_session, sample_town, state, monkeypatch, capsys):
    assert _hook(monkeypatch, state, sample_town, _event(closed_session)) == 0
    copy = state / "intake" / "sessions" / PROJECT / f"{SID}.jsonl"
    kept, rows = copy.read_bytes(), _rows(state)
    closed_session.write_bytes(b"\x00\x01 binary garbage")   # the live file went bad before the next SessionEnd
    assert _hook(monkeypatch, state, sample_town, _event(closed_session)) == 1
    err = capsys.readouterr().err
    assert str(closed_session) in err and "binary file" in err
    assert copy.read_bytes() == kept and _rows(state) == rows and _partitions(state) == [SID]
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]   # no temp file left behind


NEW_ID = "5f0c1d2e-7a7b-4c3d-9e8f-0a1b2c3d4e5f"
NEW = f".claude/projects/-home-alice-gt-gastown-polecats-rictus/{NEW_ID}.jsonl"


def test_sensor_runs_the_hook_copy_once_and_skips_the_original(env, monkeypatch):
    """The town's own copy of the session (what the sensor watches) and the hook's copy hold the same
    content: one partition, one run, of the hook's copy; after collection nothing is asked again."""
    text = (env.town / SOURCE).read_text().replace(SID, NEW_ID).replace("toast", "rictus")
    original = env.add(NEW, text)
    assert _hook(monkeypatch, env.state, env.town, _event(original, NEW_ID)) == 0
    copy = env.state / "intake" / "sessions" / original.parent.name / original.name

    with dg.DagsterInstance.from_config(str(env.state / "dagster_home")) as instance:
        def tick(cursor=None):
            return new_sessions_sensor(dg.build_sensor_context(instance=instance, cursor=cursor,
                                                               resources=env.resources))

        result = tick()
        assert [r.partition_key for r in result.run_requests] == [NEW_ID]
        assert not result.dynamic_partitions_requests   # the hook added the partition
        tag = result.run_requests[0].tags["gtft/session_path"]
        assert tag.endswith(f"intake/sessions/{copy.parent.name}/{copy.name}")
        res = dg.materialize([session_records], partition_key=NEW_ID, instance=instance, resources=env.resources)
        assert res.success
        md = res.get_asset_materialization_events()[0].materialization.metadata
        assert md["n_records"].value == 1 and md["role"].value == "polecat"
        assert tick(result.cursor).run_requests == [] and tick().run_requests == []   # also after a cursor loss

    db = env.db()
    assert db.scalar("select scope from current_sources where path = ?", [str(copy)]) == "session"
    assert db.scalar("select count(*) from current_sources where path = ?", [str(original)]) == 0
    assert [(r["session_key"], r["status"]) for r in _rows(env.state)] == [(NEW_ID, "collected")]


def test_node0_agent_hands_its_own_transcript_to_the_intake_at_exit(sample_town, state, tmp_path, monkeypatch,
                                                                     capsys):
    """``node0-inference --intake`` (what deployed node0-<role> entries run): the session it wrote is
    taken by ``node0-intake`` when the agent exits, as Claude sessions are by the SessionEnd hook."""
    from node0_ops.serve.cli import main as agent_main

    work = tmp_path / "gt" / "gastown" / "polecats" / "nux"
    work.mkdir(parents=True)
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(["Nothing to do: the hook is empty, so I wait for work."]))
    projects = tmp_path / "claude-home" / "projects" / "nux"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert agent_main(["--backend", "echo-script", "--script", str(script), "--role", "polecat", "--no-rag",
                       "--work-tree", str(work), "--transcript-dir", str(projects), "--state-dir", str(state),
                       "--town", str(sample_town), "--intake", "check your hook"]) == 0
    [written] = projects.glob("*.jsonl")
    err = capsys.readouterr().err
    assert "intake taken" in err and f"session {written.stem} registered as a sessions partition" in err
    [row] = _rows(state)
    assert (row["session_key"], row["status"], row["role"]) == (written.stem, "requested", "polecat")
    assert Path(row["path"]).read_bytes() == written.read_bytes()
    assert _partitions(state) == [written.stem]


def test_hand_to_intake_skips_an_empty_session_and_reports_a_refused_one(sample_town, state, tmp_path):
    from node0_ops.registry.hooks import hand_to_intake

    res = hand_to_intake(tmp_path / "never-written.jsonl", "s1", str(tmp_path), state, sample_town)
    assert res.outcome == "skipped" and "no transcript" in res.detail
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not a transcript\n")
    res = hand_to_intake(bad, "s2", str(tmp_path), state, sample_town)
    assert res.outcome == "failed" and res.detail.startswith("exit 1:") and "bad.jsonl" in res.detail
    assert not list(state.glob("intake/sessions/**/*.jsonl"))
