"""bd/gt command validation against the spec tables (commands from the formats doc, the bd
CLI reference and the Gas Town role templates)."""

import pytest

from node0_ops.evals.cli_spec import ENUMS, SPECS, check_value, lookup, parse_flag_table, parse_usage
from node0_ops.evals.command_validator import validate, validate_all

VALID = [
    'bd create "Fix login" -t bug -p 1 -l auth,urgent',
    'bd close gt-abc12 --reason "Fixed in PR #12"',
    "bd dep add gt-abc12 gt-xyz34",
    "bd update gt-abc12 --status in_progress",
    "gt sling mol-polecat-work --on gt-abc12 gastown",
    "gt done --status COMPLETED",
    'gt mail send gastown/witness -s "HELP: stuck" -m "..."',
    "gt polecat nuke gastown/toast --force",
    # CLI reference / templates
    "bd dep add bd-42 --blocked-by bd-41",
    "bd dep add bd-42 --depends-on bd-41",
    "bd dep add gt-xyz external:beads:mol-run-assignee",
    "bd dep add --file deps.jsonl",
    "bd dep bd-xyz --blocks bd-abc",
    "bd dep list gt-abc --direction=up -t tracks",
    "bd dep tree gt-0iqq --direction=up --status=open --max-depth=3",
    "bd create --type=bug --priority=1 --title='Crash on empty inbox'",
    "bd create --ephemeral --wisp-type patrol --title 'patrol cycle'",
    "bd new -t task 'quick one'",
    "bd q 'capture this' -p P2",
    "bd list --status=in_progress --json --limit=0",
    "bd list --label=gt:agent --desc-contains=polecat",
    "bd list --type=merge-request --status=open",
    "bd list --status open,in_progress --sort priority",
    "bd ready --gated --json",
    "bd ready -n 5 --sort hybrid -p 1",
    "bd show gt-abc --json",
    "bd view gt-abc --long",
    "bd update gt-abc12 --claim",
    "bd update gt-abc12 --add-label backend --add-label needs-review",
    "bd update gt-wisp-x1 --design 'use a token bucket'",
    "bd close gt-a gt-b --reason done --reason also-done",
    "bd done gt-abc12 -r fixed",
    "bd label add gt-abc12 backend",
    "bd comments add gt-abc12 'working on it'",
    "bd comments gt-abc12",
    "bd merge-slot acquire --holder=$(whoami) --wait --json",
    "bd mol wisp gc --age 1h --force",
    "bd mol wisp create beads-release --var version=0.37.0",
    "bd mol bond mol-security-scan $PATROL_ID --var scope=town",
    "bd cook mol-polecat-work --var issue=gt-abc --mode runtime",
    "bd formula list --type convoy",
    "bd --json list",
    "bd -q --actor mayor close gt-abc12 --reason ok",
    "bd defer gt-lo9w --until tomorrow",
    "bd reopen gt-q9z1 --reason 'closed by mistake'",
    "bd set-state gt-abc12 review=pending --reason 'ready'",
    "bd link gt-abc12 gt-xyz34 --type related",
    "gt done --status=DEFERRED --reason 'waiting on upstream'",
    "gt done --pre-verified --target main",
    "gt done --cleanup-status clean",
    "gt mail send --human -s 'Need a decision'",
    "gt mail send mayor/ -s 'Work complete' -m 'Finished gt-abc' --type task --priority 1",
    "gt mail send list:oncall -s Alert -m 'System down' --cc overseer --cc mayor/",
    "gt mail inbox --unread --json",
    "gt mail read hq-abc123",
    "gt mail archive --stale --dry-run",
    "gt mail reply msg-abc123 -m 'Thanks'",
    "gt mail check --inject",
    "gt nudge gastown/polecats/toast 'Run gt done'",
    "gt nudge --mode=queue gastown/witness 'HEALTH_CHECK from deacon'",
    "gt nudge deacon -m 'wake up'",
    "gt escalate -s HIGH 'Dolt server down'",
    "gt escalate --severity medium 'slow merges' -m 'Details'",
    "gt handoff -s 'Context' -m 'Notes'",
    "gt prime --hook",
    "gt sling gt-abc gastown --agent codex",
    "gt sling beads/polecats/p1 --formula beads-release --var version=0.37.0",
    "gt sling mol-orphan-scan deacon/dogs --var scope=town -n",
    "gt polecat list gastown --json",
    "gt polecat check-recovery gastown/nux --json",
    "gt polecat nuke --all --dry-run",
    "gt convoy create 'Feature X' gt-abc gt-def --notify mayor/",
    "gt convoy status hq-cv-abc --json",
    "gt mq integration land gt-epic --dry-run",
    "gt mq post-merge gastown gt-mr1 --skip-branch-delete",
    "gt patrol report --summary 'all quiet'",
    "gt peek deacon --lines 20",
    "gt hook",
    "gt unhook gt-abc",
    "gt deacon health-check gastown/witness",
    "gt rig park gastown",
    "BD_ACTOR=mayor bd list --status open",
    "sudo -E bd ready",
]

INVALID = [
    ("bd update gt-abc12 --status done", "not one of open|in_progress"),
    ('bd create "Fix login" -t bug -p 7', "priority must be 0-4"),
    ('bd create "Fix login" --priority=P9', "priority must be 0-4"),
    ('bd create "Fix login" -t defect', "'defect' is not one of"),
    ("bd create -t bug -p 1", "needs a title"),
    ("bd close gt-abc12 --resolution fixed", "unknown flag --resolution; did you mean --reason?"),
    ("bd dep add gt-abc12", "missing the depends-on id"),
    ("bd dep add", "needs <issue-id>"),
    ("bd dep add gt-1 gt-2 --blocked-by gt-3", "given twice"),
    ("bd dep add gt-1 gt-2 -t blocking", "'blocking' is not one of"),
    ("bd dep gt-abc12", "not a dep subcommand"),
    ("bd dep remove gt-1", "needs exactly 2 issue ids"),
    ("bd frobnicate gt-1", "unknown bd command 'frobnicate'"),
    ("bd gate", "needs a subcommand"),
    ("bd gate open gt-1", "unknown subcommand 'bd gate open'"),
    ("bd assign gt-abc12", "missing required argument <name>"),
    ("bd assign gt-abc12 alice bob", "too many arguments"),
    ("bd list open", "too many arguments"),
    ("bd list --status=opened", "'opened' not one of"),
    ("bd create x -e 1h", "expects an integer"),
    ("bd create x --title", "needs a value"),
    ("bd ready --sort newest", "'newest' is not one of"),
    ("bd --dolt-auto-commit always list", "'always' is not one of off|on|batch"),
    ("bd create x --event-category agent.started", "require --type event"),
    ("gt done --status DONE", "not one of COMPLETED|ESCALATED|DEFERRED"),
    ("gt done gt-abc12", "too many arguments"),
    ("gt done -p 7", "priority must be 0-4"),
    ("gt mail send gastown/witness -m hi", "required flag --subject"),
    ("gt mail send -s hi", "needs a recipient"),
    ("gt mail frob", "unknown subcommand 'gt mail frob'"),
    ("gt mail", "needs a subcommand"),
    ("gt nudge gastown/witness", "needs a message"),
    ("gt nudge --mode=later gastown/witness hi", "'later' is not one of"),
    ("gt polecat nuke", "needs a polecat"),
    ("gt polecat nuke gastown/toast --hard", "unknown flag --hard"),
    ("gt sling", "missing required argument <bead-or-formula>"),
    ("gt sling gt-abc gastown --merge squash", "'squash' is not one of direct|mr|local"),
    ("gt escalate -s urgent 'x'", "not one of critical|high|medium|low"),
    ("gt dispatch gt-abc12 gastown", "unknown gt command 'dispatch'"),
    ("gt", "no command given"),
]


@pytest.mark.parametrize("cmd", VALID)
def test_valid_commands_pass(cmd):
    r = validate(cmd)
    assert r.ok, (cmd, r.errors)
    assert r.tool in ("bd", "gt")


@pytest.mark.parametrize("cmd,fragment", INVALID)
def test_invalid_commands_fail_with_clear_error(cmd, fragment):
    r = validate(cmd)
    assert not r.ok
    assert any(fragment in e for e in r.errors), r.errors


def test_parsed_fields():
    r = validate('bd create "Fix login" -t bug -p 1 -l auth,urgent')
    assert (r.tool, r.subcommand) == ("bd", "create")
    assert r.flags == {"type": "bug", "priority": "1", "labels": ["auth", "urgent"]}
    assert r.positionals == ["Fix login"]
    r = validate("bd new -t=task -p=P0 'x' --ephemeral=false")
    assert r.subcommand == "create" and r.flags["type"] == "task" and r.flags["priority"] == "P0"
    assert r.flags["ephemeral"] is False
    r = validate("gt mail send --cc a/ --cc b/ gastown/witness -s s")
    assert r.flags["cc"] == ["a/", "b/"] and r.positionals == ["gastown/witness"]
    r = validate("gt unhook gt-abc")
    assert r.subcommand == "unsling"


def test_short_flag_forms():
    assert validate("bd create x -p1").flags["priority"] == "1"
    assert validate("bd create x -p=2").flags["priority"] == "2"
    r = validate("bd close gt-a -fr done")  # clustered: bool -f then -r with attached value
    assert r.ok and r.flags == {"force": True, "reason": "done"}
    assert not validate("bd create x -p8").ok


def test_double_dash_ends_flags():
    r = validate("bd comment gt-abc12 -- --not-a-flag text")
    assert r.ok and r.positionals == ["gt-abc12", "--not-a-flag", "text"]


def test_multiple_segments_and_shell_operators():
    r = validate('cd ~/gt && bd close gt-abc12 --reason "done" && gt done; echo ok | tee log')
    assert r.ok and len(r.segments) == 2
    assert [s.subcommand for s in r.segments] == ["close", "done"]
    bad = validate("bd dep add gt-1 gt-2 && gt done --status NOPE")
    assert not bad.ok and len(bad.errors) == 1 and "gt done --status NOPE" in bad.errors[0]
    assert [x.subcommand for x in validate_all("bd show $(bd ready -n 1 --json | jq -r .[0].id)")] == ["show", "ready"]


def test_no_tool_command():
    r = validate("git status")
    assert not r.ok and "no bd or gt command" in r.errors[0]


def test_open_gt_commands_warn_instead_of_fail():
    r = validate("gt deacon zombie-scan --dry-run")
    assert r.ok and r.warnings
    assert validate("gt crew at max --agent codex").ok


def test_help_is_always_valid():
    assert validate("bd dep add --help").ok
    assert validate("gt mail -h").ok


def test_spec_table_is_complete_and_consistent():
    bd, gt = SPECS["bd"], SPECS["gt"]
    assert len(bd.children) > 90 and len(gt.children) > 100
    for tool, root in SPECS.items():
        stack = [root]
        while stack:
            node = stack.pop()
            stack.extend(node.children.values())
            shorts = [f.short for f in node.flags.values() if f.short]
            assert len(shorts) == len(set(shorts)), (tool, node.name, shorts)
            for flag in node.flags.values():  # every value type is checkable
                check_value(flag.vtype, "1")
    assert lookup("bd", "dep add").flags["type"].vtype == "dep_type"
    assert lookup("bd", ("create",)).flag("priority").short == "p"
    assert lookup("gt", "mail send").flag("subject").short == "s"
    assert lookup("bd", "nope") is None
    assert set(ENUMS["status"]) == {"open", "in_progress", "blocked", "deferred", "closed", "pinned", "hooked"}


def test_usage_and_flag_parsers():
    pos = parse_usage("<id> [text...]")
    assert [(p.name, p.required, p.variadic) for p in pos] == [("id", True, False), ("text", False, True)]
    assert [p.name for p in parse_usage("<id> --of <canonical>")] == ["id"]
    flags, is_open = parse_flag_table("a/assignee= e/estimate=int dry-run +")
    assert is_open and flags["dry-run"].vtype == "bool" and flags["estimate"].vtype == "int"
    with pytest.raises(ValueError, match="unknown value type"):
        parse_flag_table("x=nonsense")
    with pytest.raises(KeyError):
        check_value("nonsense", "1")
