"""Transcript outcome detection and windowing (node0_ops.corpus.examples_transcript)."""

import json

import pytest

from node0_ops.corpus.examples_transcript import (
    MAX_CALLS, command_failure_modes, expected_deps, parse_session, session_outcome, transcript_examples,
)
from node0_ops.corpus.schema import Provenance, Record


def _session(sid, steps, *, request="Work the bead on your hook: gt-abc1 (add retry to fetch).",
             role="polecat", rig="gastown", cwd="/home/u/gt/gastown/polecats/furiosa/gastown", final="Done."):
    """A transcript record: request, then one assistant tool call + result per step (cmd, output, is_error)."""
    entries, n = [], 0

    def add(role_, *blocks):
        nonlocal n
        n += 1
        entries.append({"line": n, "type": role_, "timestamp": f"2026-01-01T00:00:{n:02d}Z",
                        "role": role_, "content": list(blocks)})

    add("user", {"type": "text", "text": request})
    for i, step in enumerate(steps):
        cmd, out, err = (step + (False,))[:3] if len(step) == 2 else step
        add("assistant", {"type": "thinking"}, {"type": "text", "text": f"Step {i}."})
        add("assistant", {"type": "tool_use", "id": f"tu_{sid}_{i}", "name": "Bash", "input": {"command": cmd}})
        if out is not None:
            add("user", {"type": "tool_result", "tool_use_id": f"tu_{sid}_{i}", "content": out, "is_error": err})
    if final:
        add("assistant", {"type": "text", "text": final})
    prov = Provenance(f"/t/{sid}.jsonl", "0" * 64, 1, 0, "transcript", rig, role)
    return Record("transcript", f"session:{sid}", {"session_id": sid, "cwd": cwd, "entries": entries}, prov)


GOOD = [("bd show gt-abc1", "gt-abc1: add retry to fetch [open]"),
        ("git checkout -b polecat/furiosa/gt-abc1", "Switched to a new branch"),
        ("go test ./...", "ok  example.com/fetch 0.2s"),
        ('git commit -am "fetch: retry on 503"', "[polecat/furiosa/gt-abc1 1a2b3c] fetch: retry"),
        ("git push origin polecat/furiosa/gt-abc1", "To origin\n * [new branch]"),
        ("gt done", "Submitted to merge queue; sandbox nuked.")]


def test_successful_session_is_success():
    assert session_outcome(_session("ok", GOOD)) == ("success", [])


@pytest.mark.parametrize("bad_step, mode", [
    (("git push --force origin polecat/furiosa/gt-abc1", "forced update"), "force_push"),
    (('git commit --no-verify -am "wip"', "[x] wip"), "no_verify"),
    (("pkill -f furiosa", ""), "pkill"),
    (("tmux kill-session -t gt-furiosa", ""), "pkill"),
    (("git push origin HEAD:main", "To origin main"), "wrong_branch"),
    (("sqlite3 .beads/beads.db 'select * from issues'", "..."), "raw_shell"),
    (("tmux send-keys -t gt-witness 'help' Enter", ""), "raw_shell"),
])
def test_forbidden_command_fails_session(bad_step, mode):
    steps = GOOD[:3] + [bad_step] + GOOD[5:]
    outcome, modes = session_outcome(_session("bad", steps))
    assert outcome == "failed"
    assert mode in modes


def test_escalated_and_deferred_are_not_success():
    esc = GOOD[:2] + [('gt done --status ESCALATED', "escalated to witness")]
    assert session_outcome(_session("esc", esc)) == ("escalated", [])
    dfr = GOOD[:2] + [('gt done --status=DEFERRED', "deferred")]
    assert session_outcome(_session("dfr", dfr)) == ("deferred", [])


def test_timeout_and_unanswered_call():
    timed = GOOD[:2] + [("go test ./...", "Command timed out after 10m0s", True)]
    assert "timeout" in session_outcome(_session("to", timed, final=None))[1]
    hung = GOOD[:2] + [("go test ./...", None)]          # call never answered, session ends
    assert session_outcome(_session("hung", hung, final=None)) == ("failed", ["timeout"])


def test_broke_tests_when_last_test_run_fails():
    steps = GOOD[:2] + [("go test ./...", "--- FAIL: TestRetry (0.00s)\nFAIL\texample.com/fetch", True),
                        ('git commit -am "retry"', "[x] retry"), ("gt done", "Submitted")]
    outcome, modes = session_outcome(_session("bt", steps))
    assert outcome == "failed" and "broke_tests" in modes
    fixed = GOOD[:2] + [("go test ./...", "--- FAIL: TestRetry\nFAIL", True), ("go test ./...", "ok  example.com/fetch")] + GOOD[3:]
    assert session_outcome(_session("fx", fixed)) == ("success", [])


def test_wrong_dependency_direction_against_request():
    req = "File the dependency: gt-b2 needs gt-a1 (the schema change must land first)."
    assert expected_deps(req) == {("gt-b2", "gt-a1")}
    wrong = _session("dep", [("bd dep add gt-a1 gt-b2", "added")], request=req, role="mayor", cwd="/gt/mayor")
    assert session_outcome(wrong) == ("failed", ["wrong_dep_direction"])
    right = _session("dep2", [("bd dep add gt-b2 gt-a1", "added")], request=req, role="mayor", cwd="/gt/mayor")
    assert session_outcome(right) == ("success", [])
    assert expected_deps("gt-a1 must land before gt-b2") == {("gt-b2", "gt-a1")}


def test_wrong_dependency_direction_against_created_bead_description():
    steps = [('bd create "Migration" -t task -p 2 --parent wa-e1 -d "Backfill. Must land before wa-e1.2."',
              "✓ Created issue: wa-e1.1"),
             ('bd create "API change" -t task -p 2 --parent wa-e1 -d "Use the column."', "✓ Created issue: wa-e1.2"),
             ("bd dep add wa-e1.1 wa-e1.2", "✓ Added dependency: wa-e1.1 depends on wa-e1.2 (blocks)"),
             ("gt done", "ok")]
    assert session_outcome(_session("q", steps)) == ("failed", ["wrong_dep_direction"])
    steps[2] = ("bd dep add wa-e1.2 wa-e1.1", "✓ Added dependency: wa-e1.2 depends on wa-e1.1 (blocks)")
    assert session_outcome(_session("q2", steps)) == ("success", [])
    # the dep command's own echo is not a stated requirement
    echo_only = [("bd dep add wa-e1.1 wa-e1.2", "✓ Added dependency: wa-e1.1 depends on wa-e1.2 (blocks)"),
                 ("bd dep add wa-e1.2 wa-e1.1", "cycle!"), ("gt done", "ok")]
    assert session_outcome(_session("q3", echo_only)) == ("success", [])


def test_quoted_timeout_of_another_session_is_not_a_timeout():
    steps = [("gt peek gt-dag --lines 12", "  ⎿  Command timed out after 10m 0.0s\n  === RUN TestX"),
             ("gt patrol report --summary ok", "closed")]
    assert session_outcome(_session("w", steps, role="witness", cwd="/gt/gastown/witness")) == ("success", [])


def test_deacon_role_from_startup_nudge_line():
    rec = _session("d", [("gt deacon heartbeat", "ok"), ("gt patrol report --summary ok", "closed")],
                   request="[GAS TOWN] deacon <- daemon • 2026-03-02T11:59:58Z • patrol\n\nRun 'gt prime'.",
                   role=None, rig=None, cwd="/home/alice/gt")
    assert parse_session(rec).role == "deacon"
    examples, _ = transcript_examples([rec])
    assert examples and all(e.role == "deacon" for e in examples)


def test_polecat_without_gt_done_is_incomplete_but_crew_is_success():
    assert session_outcome(_session("inc", GOOD[:4]))[0] == "incomplete"
    crew = _session("crew", GOOD[:4], role="crew", cwd="/gt/gastown/crew/max")
    assert session_outcome(crew) == ("success", [])


def test_crew_may_push_main_but_polecat_may_not():
    assert "wrong_branch" not in command_failure_modes("git push origin main", "crew")
    assert "wrong_branch" in command_failure_modes("git push origin main", "polecat")
    assert command_failure_modes("git status && git log -1", "polecat") == []


def test_windows_are_openai_shape_and_task_tagged():
    steps = GOOD[:1] + [("bd update gt-abc1 --status in_progress", "updated")] + GOOD[1:]
    examples, skipped = transcript_examples([_session("win", steps)])
    assert not skipped and examples
    tasks = [e.task for e in examples]
    assert "bead-management" in tasks and "git-workflow" in tasks
    for ex in examples:
        assert ex.role == "polecat" and ex.source_key == "session:win"
        msgs = ex.messages
        assert msgs[0]["role"] == "system" and "polecat" in msgs[0]["content"] and len(msgs[0]["content"]) < 600
        assert msgs[1]["role"] == "user" and "gt-abc1" in msgs[1]["content"]
        assert msgs[-1]["role"] == "assistant"
        n_calls, pending = 0, set()
        for m in msgs[2:]:
            if m["role"] == "assistant":
                assert not pending, "tool calls must be answered before the next assistant turn"
                for c in m.get("tool_calls") or []:
                    assert c["type"] == "function" and c["function"]["name"] == "Bash"
                    assert "command" in json.loads(c["function"]["arguments"])
                    pending.add(c["id"])
                    n_calls += 1
            elif m["role"] == "tool":
                assert m["tool_call_id"] in pending
                pending.discard(m["tool_call_id"])
        assert n_calls <= MAX_CALLS
    # later windows summarise earlier progress instead of repeating it
    assert any("Progress so far" in e.messages[1]["content"] for e in examples[1:])
    # every command of the session appears in exactly one window
    cmds = [json.loads(c["function"]["arguments"])["command"]
            for e in examples for m in e.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert sorted(cmds) == sorted(s[0] for s in steps)


def test_failed_sessions_give_no_sft_examples():
    bad = _session("fp", GOOD[:3] + [("git push -f origin polecat/furiosa/gt-abc1", "forced")] + GOOD[5:])
    examples, skipped = transcript_examples([bad])
    assert examples == []
    assert skipped == [(bad.record_id, "outcome failed: force_push")]


def test_tool_results_pair_with_calls_and_sidechains_ignored():
    rec = _session("sc", GOOD)
    rec.payload["entries"].insert(2, {"line": 99, "type": "assistant", "role": "assistant", "is_sidechain": True,
                                      "content": [{"type": "tool_use", "id": "side", "name": "Bash",
                                                   "input": {"command": "pkill -f x"}}]})
    sess = parse_session(rec)
    assert sess.unanswered_calls == 0
    assert session_outcome(sess) == ("success", [])
    steps = [st for _, _, st in sess.steps()]
    assert [st.results[0]["tool_call_id"] for st in steps if st.results] == [f"tu_sc_{i}" for i in range(len(GOOD))]


def test_bad_payload_is_reported_not_raised():
    rec = Record("transcript", "session:x", {"session_id": "x"}, Provenance("/t/x.jsonl", "0" * 64, 1, 0, "transcript"))
    examples, skipped = transcript_examples([rec])
    assert examples == [] and "no entries list" in skipped[0][1] and "/t/x.jsonl" in skipped[0][1]
