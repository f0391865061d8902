"""DPO pairs: mutations and successful-vs-failed session pairs (node0_ops.corpus.dpo / mutations)."""

import shlex

import pytest

from node0_ops.corpus.dpo import build_dpo_pairs, intent, mutation_pairs, session_pairs
from node0_ops.corpus.examples_common import assistant, bash_call, system, user
from node0_ops.corpus.examples_transcript import command_failure_modes
from node0_ops.corpus.mutations import MUTATION_MODES, mutate
from node0_ops.corpus.schema import Example, Provenance, Record

CASES = [
    ("gt polecat nuke gastown/furiosa", "pkill"),
    ("gt session stop gt-witness", "pkill"),
    ("git push origin polecat/furiosa/gt-abc1", "force_push"),
    ('git add -A && git commit -m "fetch: retry" && git push origin polecat/furiosa/gt-abc1', "no_verify"),
    ("bd dep add gt-b2 gt-a1", "wrong_dep_direction"),
    ("bd show gt-abc1", "raw_shell"),
    ('gt nudge gastown/witness "Check polecat furiosa"', "raw_shell"),
    ("bd update gt-abc1 --status in_progress", "raw_shell"),
    ("git push -u origin polecat/furiosa/gt-abc1", "wrong_branch"),
    ("gt done", "wrong_branch"),
]


@pytest.mark.parametrize("cmd, mode", CASES)
def test_mutation_really_differs_and_is_detected(cmd, mode):
    bad = mutate(cmd, mode, "polecat")
    assert bad is not None and shlex.split(bad) != shlex.split(cmd)
    assert command_failure_modes(cmd, "polecat") == []          # the original is clean
    if mode == "wrong_dep_direction":
        assert bad == "bd dep add gt-a1 gt-b2"
    else:
        assert mode in command_failure_modes(bad, "polecat"), bad


def test_mutations_keep_the_rest_of_the_line():
    cmd = 'git add -A && git commit -m "x" && git push origin polecat/a/gt-1'
    assert mutate(cmd, "no_verify") == 'git add -A && git commit --no-verify -m "x" && git push origin polecat/a/gt-1'
    assert mutate(cmd, "force_push") == 'git add -A && git commit -m "x" && git push --force origin polecat/a/gt-1'


def test_mutations_leave_quoted_text_alone():
    cmd = 'bd create "Docs: explain git commit hooks" -t task -p 2 -d "after git push run gt done; then bd show gt-1"'
    for mode in ("no_verify", "force_push", "wrong_branch", "raw_shell", "pkill"):
        assert mutate(cmd, mode, "polecat") is None, mode
    assert mutate('echo "x" && git commit -m "use git commit"', "no_verify") == \
        'echo "x" && git commit --no-verify -m "use git commit"'


def test_mutation_not_applicable_returns_none():
    assert mutate("git push --force origin x", "force_push") is None        # already forced
    assert mutate("git commit --no-verify -m x", "no_verify") is None
    assert mutate("ls -la", "pkill") is None
    assert mutate("git push origin main", "wrong_branch", "polecat") is None  # already main
    assert mutate("git push origin feature", "wrong_branch", "crew") is None  # crew may push to main
    assert mutate("bd dep add gt-a gt-a", "wrong_dep_direction") is None
    with pytest.raises(ValueError, match="unknown mutation mode"):
        mutate("gt done", "nope")


def _chat(cmds, role="polecat", task="git-workflow", key="session:s1"):
    msgs = [system("card"), user("do the work")]
    for i, c in enumerate(cmds):
        msgs.append(assistant(f"step {i}", [bash_call(c, f"c{i}")]))
        msgs.append({"role": "tool", "tool_call_id": f"c{i}", "content": "ok"})
    return Example("chat", role, task, "transcript", key, ["r1"], messages=msgs[:-1])


def test_every_mutation_failure_mode_produced_from_examples():
    ex = _chat(["bd show gt-abc1", "bd dep add gt-b2 gt-a1", 'git commit -m "x"',
                "git push origin polecat/furiosa/gt-abc1", "gt polecat nuke gastown/nux", "gt done"])
    pairs = mutation_pairs([ex])
    assert {p.failure_mode for p in pairs} == set(MUTATION_MODES)
    for p in pairs:
        assert p.origin == "mutation" and p.source_key == ex.source_key and p.record_ids == ["r1"]
        assert p.prompt[-1]["role"] in ("user", "tool") and p.chosen != p.rejected
        assert p.prompt == ex.messages[:len(p.prompt)]
        assert p.chosen in {_render(m) for m in ex.messages if m["role"] == "assistant"}
    dep = next(p for p in pairs if p.failure_mode == "wrong_dep_direction")
    assert "bd dep add gt-b2 gt-a1" in dep.chosen and "bd dep add gt-a1 gt-b2" in dep.rejected


def _render(m):
    from node0_ops.corpus.examples_common import render_action
    return render_action(m)


def _session(sid, cmds, request, role="polecat", outputs=None):
    entries = [{"line": 1, "type": "user", "role": "user", "content": [{"type": "text", "text": request}]}]
    for i, c in enumerate(cmds):
        out = (outputs or {}).get(i, ("ok", False))
        entries.append({"line": 2 * i + 2, "type": "assistant", "role": "assistant",
                        "content": [{"type": "text", "text": f"Running step {i}."},
                                    {"type": "tool_use", "id": f"{sid}_{i}", "name": "Bash", "input": {"command": c}}]})
        if out is not None:
            entries.append({"line": 2 * i + 3, "type": "user", "role": "user",
                            "content": [{"type": "tool_result", "tool_use_id": f"{sid}_{i}", "content": out[0],
                                         "is_error": out[1]}]})
    return Record("transcript", f"session:{sid}", {"session_id": sid, "cwd": "/gt/gastown/polecats/x", "entries": entries},
                  Provenance(f"/t/{sid}.jsonl", "6" * 64, 1, 0, "transcript", "gastown", role))


REQ = "Work gt-abc1: add retry with backoff to the fetch client and submit it."
GOOD = ["bd show gt-abc1", "go test ./...", 'git commit -am "retry"', "git push origin polecat/furiosa/gt-abc1", "gt done"]


def test_session_pair_chosen_from_success_rejected_from_failure():
    good = _session("good", GOOD, REQ)
    bad = _session("bad", ["bd show gt-abc1", "go test ./...", 'git commit -am "retry"',
                           "git push --force origin polecat/nux/gt-abc1", "gt done"], REQ + " Quickly.")
    pairs = session_pairs([good, bad])
    (p,) = pairs
    assert p.failure_mode == "force_push" and p.origin == "session_pair" and p.role == "polecat"
    assert "git push origin polecat/furiosa/gt-abc1" in p.chosen and "--force" in p.rejected
    assert p.source_key == "session:bad" and set(p.record_ids) == {good.record_id, bad.record_id}
    assert p.prompt[1]["content"].startswith(REQ)
    assert p.task == "git-workflow"


def test_session_pair_for_pkill_and_timeout_and_broke_tests():
    good = _session("g2", ["gt polecat list", "gt polecat nuke gastown/furiosa", "gt patrol report --summary ok"],
                    "Patrol: polecat furiosa is a zombie, clean it up.", role="witness")
    bad = _session("b2", ["gt polecat list", "pkill -f furiosa", "gt patrol report --summary ok"],
                   "Patrol: polecat furiosa is a zombie, clean it up now.", role="witness")
    (p,) = session_pairs([good, bad])
    assert p.failure_mode == "pkill" and "gt polecat nuke" in p.chosen and "pkill -f furiosa" in p.rejected
    assert p.role == "witness" and p.task == "patrol-decision"

    fixer = _session("g3", ["bd show gt-abc1", "go test ./...", "sed -i s/a/b/ fetch.go", "go test -timeout 300s ./...",
                            'git commit -am "retry"', "gt done"], REQ,
                     outputs={1: ("--- FAIL: TestRetry\nFAIL", True)})
    breaker = _session("b3", ["bd show gt-abc1", "go test ./...", 'git commit -am "retry"', "gt done"], REQ,
                       outputs={1: ("--- FAIL: TestRetry\nFAIL", True)})
    hung = _session("b4", ["bd show gt-abc1", "go test ./..."], REQ, outputs={1: None})
    pairs = {p.failure_mode: p for p in session_pairs([fixer, breaker, hung])}
    bt = pairs["broke_tests"]
    assert "sed -i" in bt.chosen and "git commit" in bt.rejected
    assert bt.prompt[-1]["role"] == "tool" and "FAIL" in bt.prompt[-1]["content"]
    to = pairs["timeout"]
    assert "go test -timeout 300s" in to.chosen and "go test ./..." in to.rejected and to.source_key == "session:b4"
    # identical actions never make a pair
    same = _session("g4", ["bd show gt-abc1", "go test ./...", 'git commit -am "retry"', "gt done"], REQ)
    assert [p for p in session_pairs([same, hung]) if p.failure_mode == "timeout"] == []


def test_session_fix_pair_for_wrong_dependency_direction():
    bad = _session("q1", ['bd create "Migration" -t task -p 2 --parent wa-e1 -d "Must land before wa-e1.2."',
                          'bd create "API change" -t task -p 2 --parent wa-e1', "bd dep add wa-e1.1 wa-e1.2", "gt done"],
                   "Plan the rollout under wa-e1.", outputs={0: ("✓ Created issue: wa-e1.1", False),
                                                           1: ("✓ Created issue: wa-e1.2", False)})
    (p,) = session_pairs([bad])
    assert p.origin == "session_fix" and p.failure_mode == "wrong_dep_direction" and p.task == "bead-management"
    assert "bd dep add wa-e1.2 wa-e1.1" in p.chosen and "bd dep add wa-e1.1 wa-e1.2" in p.rejected
    assert p.prompt[-1]["role"] == "tool" and p.prompt[-1]["content"] == "✓ Created issue: wa-e1.2"


def test_dissimilar_or_other_role_sessions_are_not_paired():
    good = _session("g5", GOOD, REQ)
    other = _session("b5", ["git push --force origin main"], "Rotate the TLS certificates on the staging cluster today.")
    assert session_pairs([good, other]) == []
    crew_bad = _session("b6", ["git push --force origin x"], REQ, role="crew")
    assert session_pairs([good, crew_bad]) == []


def test_intent_alignment():
    assert intent("pkill -f furiosa") == intent("gt polecat nuke gastown/furiosa") == "stop_session"
    assert intent("tmux send-keys -t x hi Enter") == intent('gt nudge x "hi"') == "nudge"
    assert intent("cat .beads/issues.jsonl | grep gt-1") == intent("bd show gt-1") == "read_bead"
    assert intent("git push -f origin x") == intent("git push origin x") == "push"


def test_build_dpo_pairs_builds_examples_when_not_given():
    good = _session("g7", GOOD + [], REQ)
    good.payload["entries"].append({"line": 99, "type": "assistant", "role": "assistant",
                                    "content": [{"type": "text", "text": "Submitted."}]})
    pairs = build_dpo_pairs([good])
    modes = {p.failure_mode for p in pairs}
    assert {"force_push", "no_verify", "wrong_branch", "raw_shell"} <= modes
    assert all(p.origin == "mutation" and p.source_key == "session:g7" for p in pairs)
    assert len({p.pair_id for p in pairs}) == len(pairs)
