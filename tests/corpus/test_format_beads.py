"""Beads history -> bd command examples (node0_ops.corpus.examples_beads)."""

import re
import shlex
from pathlib import Path

import pytest

from node0_ops.corpus.examples_beads import beads_examples
from node0_ops.corpus.examples_common import actor_role, call_command
from node0_ops.corpus.schema import Provenance, Record

FORMATS_DOC = Path(__file__).resolve().parents[3] / "shared" / "docs" / "gastown-formats.md"

# Flags per bd subcommand, from gastown-formats.md §2.4 (the subset our generators may emit).
BD_FLAGS = {
    ("create",): {"-t", "--type", "-p", "--priority", "-l", "--labels", "-d", "--description", "--parent", "-a", "--assignee"},
    ("update",): {"--claim", "-s", "--status"},
    ("close",): {"-r", "--reason"},
    ("dep", "add"): {"-t", "--type"},
}


def _issue(iid, title, *, status="open", itype="task", prio=2, deps=(), assignee=None, created_by=None,
           close_reason=None, labels=(), desc="", ephemeral=False, rig="gastown", headers=None):
    payload = {"id": iid, "title": title, "description": desc, "status": status, "priority": prio,
               "issue_type": itype, "labels": list(labels),
               "dependencies": [{"issue_id": iid, "depends_on_id": d, "type": t} for d, t in deps],
               "comments": [], "assignee": assignee, "created_by": created_by, "close_reason": close_reason,
               "closed_at": None, "ephemeral": ephemeral, "tombstone": False, "dialect": "export",
               "headers": dict(headers or {}), "extra": {}}
    return Record("beads_issue", f"bead:{iid}", payload,
                  Provenance("/town/.beads/issues.jsonl", "1" * 64, hash(iid) % 1000, 0, "beads_issue", rig, None))


def fixture_issues():
    return [
        _issue("gt-ep1", "Retry layer for fetchers", itype="epic", prio=1, created_by="mayor"),
        _issue("gt-c1", "Add backoff helper", deps=[("gt-ep1", "parent-child")], created_by="mayor"),
        _issue("gt-c2", "Use backoff in fetch", deps=[("gt-ep1", "parent-child"), ("gt-c1", "blocks")],
               created_by="gastown/crew/max", labels=["retry", "net"],
               desc="attached_formula: mol-polecat-work\ndispatched_by: mayor\n\nWire the backoff helper into fetch().\n\n```go\nx := 1\n```",
               headers={"attached_formula": "mol-polecat-work", "dispatched_by": "mayor"}),
        _issue("gt-done", "Fix flaky clock test", status="closed", assignee="gastown/polecats/furiosa",
               close_reason="Merged to main: replaced time.Now with an injected clock", itype="bug", prio=0),
        _issue("gt-wip", "Patrol inbox drain", status="in_progress", assignee="gastown/witness"),
        _issue("gt-wisp-x1", "patrol wisp", ephemeral=True),
        _issue("gt-agent", "gt-gastown-polecat-furiosa", itype="agent"),
        _issue("gt-help", "--help"),
        _issue("gt-gen", "Generic close", status="closed", close_reason="Closed"),
    ]


def _bd_commands(examples):
    for ex in examples:
        for m in ex.messages:
            for c in m.get("tool_calls") or []:
                yield ex, call_command(c)


def _check_bd(cmd):
    argv = shlex.split(cmd)
    assert argv[0] == "bd", cmd
    sub = tuple(argv[1:3]) if argv[1] == "dep" else (argv[1],)
    allowed = BD_FLAGS[sub]
    rest = argv[1 + len(sub):]
    flags = [a for a in rest if a.startswith("-")]
    assert set(flags) <= allowed, f"{cmd}: unknown flags {set(flags) - allowed}"
    for i, a in enumerate(rest):
        if a in ("-p", "--priority"):
            assert rest[i + 1] in {"0", "1", "2", "3", "4"}
        if a in ("-t", "--type") and sub == ("create",):
            assert rest[i + 1] in {"bug", "feature", "task", "epic", "chore", "decision", "spike", "story", "milestone"}
    positional = [a for i, a in enumerate(rest) if not a.startswith("-") and not (i and rest[i - 1].startswith("-")
                                                                                  and rest[i - 1] not in ("--claim",))]
    if sub == ("dep", "add"):
        assert len(positional) == 2, cmd
    elif sub != ("create",):
        assert len(positional) == 1, cmd
    return argv


def test_every_bd_command_parses_with_known_flags():
    examples, _ = beads_examples(fixture_issues())
    cmds = list(_bd_commands(examples))
    assert len(cmds) >= 8
    for _, cmd in cmds:
        _check_bd(cmd)


@pytest.mark.skipif(not FORMATS_DOC.exists(), reason="shared/docs/gastown-formats.md not present")
def test_emitted_flags_are_documented():
    doc = FORMATS_DOC.read_text()
    for flags in BD_FLAGS.values():
        for f in flags:
            assert re.search(rf"`[^`]*{re.escape(f)}\b", doc), f"flag {f} not in gastown-formats.md"
    assert "`bd dep add <issue> <depends-on>`" in doc


def test_dependency_direction_issue_is_blocked_by_depends_on():
    examples, _ = beads_examples(fixture_issues())
    deps = [(ex, cmd) for ex, cmd in _bd_commands(examples) if cmd.startswith("bd dep add")]
    assert [cmd for _, cmd in deps] == ["bd dep add gt-c2 gt-c1"]
    ex = deps[0][0]
    prompt = ex.messages[1]["content"]
    assert "gt-c2" in prompt and "gt-c1" in prompt
    # the wording must put the blocker (gt-c1) first-done
    assert re.search(r"gt-c2 .*cannot start until gt-c1|gt-c1 .*has to land before gt-c2", prompt)


def test_create_uses_type_priority_labels_parent_and_prose_description():
    examples, _ = beads_examples(fixture_issues())
    creates = {cmd: ex for ex, cmd in _bd_commands(examples) if cmd.startswith("bd create")
               and "Use backoff" in cmd and ex.meta["generator"] == "create"}
    (cmd, ex), = creates.items()
    argv = _check_bd(cmd)
    assert argv[2] == "Use backoff in fetch"
    assert argv[argv.index("-t") + 1] == "task" and argv[argv.index("-p") + 1] == "2"
    assert argv[argv.index("-l") + 1] == "retry,net"
    assert argv[argv.index("--parent") + 1] == "gt-ep1"
    assert argv[argv.index("-d") + 1] == "Wire the backoff helper into fetch()."   # header line and code dropped
    assert ex.role == "crew"      # created_by gastown/crew/max


def test_epic_breakdown_is_planning_with_parent_children():
    examples, _ = beads_examples(fixture_issues())
    (epic,) = [e for e in examples if e.meta["generator"] == "epic"]
    assert epic.task == "planning" and epic.role == "mayor" and epic.source_key == "bead:gt-ep1"
    cmds = [call_command(c) for c in epic.messages[-1]["tool_calls"]]
    assert len(cmds) == 2 and all(shlex.split(c)[-2:] == ["--parent", "gt-ep1"] for c in cmds)
    assert len(epic.record_ids) == 3


def test_close_and_claim_roles_and_syntax():
    examples, _ = beads_examples(fixture_issues())
    by = {(e.meta["generator"], e.meta["bead"]): e for e in examples}
    close = by[("close", "gt-done")]
    assert close.role == "refinery"    # polecats don't close their own beads; the refinery closes after merge
    argv = shlex.split(call_command(close.messages[-1]["tool_calls"][0]))
    assert argv[:3] == ["bd", "close", "gt-done"] and argv[3] == "--reason" and argv[4].startswith("Merged to main")
    claim = by[("claim", "gt-done")]
    assert claim.role == "polecat" and call_command(claim.messages[-1]["tool_calls"][0]) == "bd update gt-done --status in_progress"
    assert by[("claim", "gt-wip")].role == "witness"
    assert ("close", "gt-gen") not in by      # "Closed" is not a reason worth teaching


def test_noise_is_skipped_with_reasons():
    recs = fixture_issues()
    examples, skipped = beads_examples(recs)
    reasons = {rid: why for rid, why in skipped}
    ids = {r.payload["id"]: r.record_id for r in recs}
    assert "ephemeral" in reasons[ids["gt-wisp-x1"]]
    assert "infra" in reasons[ids["gt-agent"]]
    assert "pollution" in reasons[ids["gt-help"]]
    assert not any(e.meta["bead"] in ("gt-wisp-x1", "gt-agent", "gt-help") for e in examples)


def test_duplicate_copies_of_a_bead_yield_one_set_of_examples():
    a = fixture_issues()
    b = [_issue("gt-c1", "Add backoff helper", deps=[("gt-ep1", "parent-child")], created_by="mayor")]
    b[0].payload["updated_at"] = "2026-02-01T00:00:00Z"
    b[0].provenance = Provenance("/town/.beads/backup/issues.jsonl", "2" * 64, 1, 0, "beads_issue", "gastown")
    b[0].record_id = ""
    b[0].__post_init__()
    examples, skipped = beads_examples(a + b)
    creates = [e for e in examples if e.meta["generator"] == "create" and e.meta["bead"] == "gt-c1"]
    assert len(creates) == 1 and creates[0].record_ids == [b[0].record_id]
    assert any("older copy" in why for _, why in skipped)


@pytest.mark.parametrize("actor, expected", [
    ("gastown/polecats/furiosa", ("polecat", "gastown")), ("gastown/crew/max", ("crew", "gastown")),
    ("gastown/witness", ("witness", "gastown")), ("gastown/refinery", ("refinery", "gastown")),
    ("mayor", ("mayor", None)), ("mayor/", ("mayor", None)), ("deacon", ("deacon", None)),
    ("dog", ("dog", None)), ("deacon-boot", ("boot", None)), ("stevey", (None, None)), ("", (None, None)),
])
def test_actor_role(actor, expected):
    assert actor_role(actor) == expected


@pytest.mark.realdata
def test_real_beads_commands_parse_and_deps_match_payload(real_root):
    from node0_ops.corpus.collect import collect_paths

    recs = [r for r in collect_paths([real_root]).records if r.kind == "beads_issue"]
    examples, skipped = beads_examples(recs)
    assert len(examples) > 1000
    deps = {(d["issue_id"], d["depends_on_id"]) for r in recs for d in r.payload.get("dependencies") or []}
    n_dep = 0
    for _, cmd in _bd_commands(examples):
        argv = _check_bd(cmd)
        if argv[1:3] == ["dep", "add"]:
            n_dep += 1
            assert (argv[3], argv[4]) in deps, cmd
    assert n_dep > 100
