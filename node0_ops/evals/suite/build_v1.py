"""How suite v1 was authored: rebuilds ``v1/*.jsonl`` from the task definitions below.

The JSONL files are the frozen source of truth; this script documents them and keeps them
editable (code tasks embed multi-line tests). ``tests/evals/test_suite_v1.py`` checks that it
reproduces the committed files byte for byte, so the two cannot drift. Do not change v1
after release: copy this file to ``build_v2.py`` and write ``v2/`` instead.

Usage::

    python node0_ops/evals/suite/build_v1.py [OUT_DIR]     # default: the v1/ folder next to it
"""
import json
import sys
import textwrap
from pathlib import Path

from node0_ops.evals.checks import patrol_decision_schema

OUT = Path(__file__).resolve().parent / "v1"
WT = "/home/gt/gastown/polecats/toast/gastown"
BASH = "Reply with the exact shell commands in a single ```bash block."
SYS = {
    "polecat": f"You are toast, a polecat (worker agent) in the Gas Town rig 'gastown'. Identity: gastown/polecats/toast. Your git worktree is {WT}; stay inside it. Track work with bd (beads) and coordinate with gt. {BASH}",
    "witness": f"You are the Witness of the Gas Town rig 'gastown' (gastown/witness). You patrol the rig's polecats, nudge idle ones, clean up finished ones and escalate problems. Use gt and bd, never raw tmux or kill. {BASH}",
    "refinery": f"You are the Refinery of the Gas Town rig 'gastown' (gastown/refinery). You process the merge queue: rebase polecat branches, run the gates, merge to main and notify. {BASH}",
    "mayor": f"You are the Mayor of this Gas Town (mayor/). You plan work, file beads (issue prefix gt- for the gastown rig) and dispatch work to rigs with gt sling. {BASH}",
    "deacon": f"You are the Deacon of this Gas Town (deacon/): town-level patrols, health checks of witnesses and refineries, and dog dispatch. {BASH}",
    "crew": f"You are max, a crew member of the rig 'gastown' (gastown/crew/max) with a full clone on main. You work with a human and push your own commits. {BASH}",
    "dog": f"You are alpha, a dog (deacon/dogs/alpha) that runs maintenance formulas for the Deacon. {BASH}",
}

def chat(role, user, system=None):
    return [{"role": "system", "content": system or SYS[role]}, {"role": "user", "content": user}]

def fence(cmds):
    return "```bash\n" + cmds.strip() + "\n```"

tasks = {k: [] for k in ["bead_management", "git_workflow", "conventions", "planning", "code_execution", "patrol_decision"]}

def add(file, task_id, category, role, user, checker, args, reference, negatives=(), schema=None, tags=(), system=None):
    tasks[file].append({"task_id": task_id, "category": category, "role": role, "messages": chat(role, user, system),
                        "checker": checker, "checker_args": args, "json_schema": schema, "reference": reference,
                        "negatives": list(negatives), "tags": list(tags)})

# ---------------------------------------------------------------- bead management
B = "bead_management"; C = "bead-management"
add(B, "bead-001", C, "mayor", "File a bug: login fails when the session token has expired. Give it priority 1 and the labels auth and urgent.",
    "commands", {"expect": [{"cmd": "bd create", "flags": {"type": "bug", "priority": "1", "labels": ["auth", "urgent"]}}]},
    fence('bd create "Login fails when the session token has expired" -t bug -p 1 -l auth,urgent'),
    [fence('bd create "Login fails" -t bug -p 7 -l auth,urgent'), fence('bd create "Login fails" -t defect -p 1 -l auth,urgent'),
     fence('bd create -t bug -p 1 -l auth,urgent')], tags=["create"])
add(B, "bead-002", C, "polecat", "You fixed issue gt-abc12 in PR #12. Close the issue and record why.",
    "commands", {"expect": [{"cmd": "bd close", "args": ["gt-abc12"], "flags": {"reason": "*"}}]},
    fence('bd close gt-abc12 --reason "Fixed in PR #12"'),
    [fence('bd close gt-abc12 --resolution fixed'), fence('bd update gt-abc12 --status done'), fence('bd close gt-abc12')], tags=["close"])
add(B, "bead-003", C, "polecat", "You are starting work on gt-abc12. Mark it as in progress and assigned to you.",
    "commands", {"expect": [{"any_of": [{"cmd": "bd update", "args": ["gt-abc12"], "flags": {"status": "in_progress"}},
                                        {"cmd": "bd update", "args": ["gt-abc12"], "flags": {"claim": True}}]}]},
    fence("bd update gt-abc12 --claim"),
    [fence("bd update gt-abc12 --status started"), fence("bd update gt-abc12 --status=in-progress")], tags=["update"])
add(B, "bead-004", C, "mayor", "The API endpoint issue gt-abc12 cannot start until the schema migration gt-xyz34 is finished. Record that dependency in beads.",
    "commands", {"dep": {"blocked": "gt-abc12", "blocker": "gt-xyz34"}},
    fence("bd dep add gt-abc12 gt-xyz34"),
    [fence("bd dep add gt-xyz34 gt-abc12"), fence("bd dep add gt-abc12"), fence("bd dep gt-abc12 --blocks gt-xyz34")], tags=["deps"])
add(B, "bead-005", C, "mayor", "The docs update gt-d0c5 is blocked by the release issue gt-r3l1. Record the dependency using the --blocked-by flag form.",
    "commands", {"dep": {"blocked": "gt-d0c5", "blocker": "gt-r3l1"},
                 "expect": [{"cmd": "bd dep add", "args": ["gt-d0c5"], "flags": {"blocked-by": "gt-r3l1"}}]},
    fence("bd dep add gt-d0c5 --blocked-by gt-r3l1"),
    [fence("bd dep add gt-r3l1 --blocked-by gt-d0c5"), fence("bd dep add gt-d0c5 --blocker gt-r3l1")], tags=["deps"])
add(B, "bead-006", C, "mayor", "Epic gt-ep01 (Auth overhaul) exists. Create two child tasks under it: 'Token refresh' and 'Session store'.",
    "commands", {"expect": [{"cmd": "bd create", "flags": {"parent": "gt-ep01"}, "text_regex": "token refresh"},
                            {"cmd": "bd create", "flags": {"parent": "gt-ep01"}, "text_regex": "session store"}]},
    fence('bd create "Token refresh" -t task --parent gt-ep01\nbd create "Session store" -t task --parent gt-ep01'),
    [fence('bd create "Token refresh" -t task\nbd create "Session store" -t task'),
     fence('bd create "Token refresh" --parent=gt-ep01 -t subtask\nbd create "Session store" --parent=gt-ep01 -t subtask')], tags=["epic"])
add(B, "bead-007", C, "mayor", "Create an epic titled 'Auth overhaul' with priority P1.",
    "commands", {"expect": [{"cmd": "bd create", "flags": {"type": "epic", "priority": "1"}, "text_regex": "auth overhaul"}]},
    fence('bd create "Auth overhaul" -t epic -p P1'),
    [fence('bd create "Auth overhaul" -t epics -p 1'), fence('bd create "Auth overhaul" --kind epic -p 1')], tags=["epic", "create"])
add(B, "bead-008", C, "polecat", "Show the issues that are ready to work on (open, no active blockers), as JSON.",
    "commands", {"expect": [{"cmd": "bd ready", "flags": {"json": True}}]},
    fence("bd ready --json"), [fence("bd ready --unblocked --json"), fence("bd list --status ready --json")], tags=["query"])
add(B, "bead-009", C, "crew", "Add the labels backend and needs-review to gt-abc12 without removing its existing labels.",
    "commands", {"expect": [{"any_of": [{"cmd": "bd update", "args": ["gt-abc12"], "flags": {"add-label": ["backend"]}},
                                        {"cmd": "bd label add", "args": ["gt-abc12", "backend"]}]},
                            {"any_of": [{"cmd": "bd update", "args": ["gt-abc12"], "flags": {"add-label": ["needs-review"]}},
                                        {"cmd": "bd label add", "args": ["gt-abc12", "needs-review"]}]}],
                 "forbid": [{"cmd": "bd update", "flags": {"set-labels": "*"}}]},
    fence("bd update gt-abc12 --add-label backend --add-label needs-review"),
    [fence("bd update gt-abc12 --set-labels backend,needs-review"), fence("bd update gt-abc12 --labels backend,needs-review")], tags=["labels"])
add(B, "bead-010", C, "witness", "Issue gt-q9z1 was closed by mistake. Reopen it and say why.",
    "commands", {"expect": [{"any_of": [{"cmd": "bd reopen", "args": ["gt-q9z1"], "flags": {"reason": "*"}},
                                        {"cmd": "bd update", "args": ["gt-q9z1"], "flags": {"status": "open"}}]}]},
    fence('bd reopen gt-q9z1 --reason "Closed by mistake; fix not merged yet"'),
    [fence("bd update gt-q9z1 --status reopened"), fence("bd open gt-q9z1")], tags=["reopen"])
add(B, "bead-011", C, "polecat", "While working on gt-abc12 you found a flaky test in the auth suite. In one command, file a priority-2 bug for it that records it was discovered from gt-abc12.",
    "commands", {"expect": [{"cmd": "bd create", "flags": {"type": "bug", "priority": "2", "deps": ["discovered-from:gt-abc12"]}}]},
    fence('bd create "Flaky test in auth suite" -t bug -p 2 --deps discovered-from:gt-abc12'),
    [fence('bd create "Flaky test in auth suite" -t bug -p 2 --discovered-from gt-abc12'),
     fence('bd create "Flaky test in auth suite" -t bug -p 2')], tags=["create", "deps"])
add(B, "bead-012", C, "mayor", "Put gt-lo9w on ice until next monday so it does not show up in bd ready.",
    "commands", {"expect": [{"any_of": [{"cmd": "bd defer", "args": ["gt-lo9w"]},
                                        {"cmd": "bd update", "args": ["gt-lo9w"], "flags": {"defer": "*"}}]}]},
    fence('bd defer gt-lo9w --until "next monday"'),
    [fence("bd update gt-lo9w --status on-ice"), fence('bd defer gt-lo9w --till "next monday"')], tags=["defer"])

# ---------------------------------------------------------------- git workflow
G = "git_workflow"; C = "git-workflow"
no_main = {"cmd": "git push", "args": ["main"]}
add(G, "git-001", C, "polecat", "Your implementation of gt-abc12 is finished: you changed src/auth.py and tests/test_auth.py on your branch. Commit (mention the issue id in the message), push your branch, and finish.",
    "commands", {"ordered": True, "work_tree": WT,
                 "expect": [{"cmd": "git add"}, {"cmd": "git commit", "text_regex": "gt-abc12"}, {"cmd": "git push"}, {"cmd": "gt done"}],
                 "forbid": [no_main]},
    fence('git add src/auth.py tests/test_auth.py\ngit commit -m "fix(auth): refresh expired session tokens (gt-abc12)"\ngit push\ngt done'),
    [fence('git add -A\ngit commit --no-verify -m "fix (gt-abc12)"\ngit push\ngt done'),
     fence('git add -A\ngit commit -m "fix (gt-abc12)"\ngit push origin main\ngt done'),
     fence('git add -A\ngit commit -m "fix (gt-abc12)"\ngit push --force\ngt done')], tags=["commit", "push"])
add(G, "git-002", C, "polecat", "git commit failed: the pre-commit hook reports 'src/auth.py:40: F401 unused import os'. You removed the import. Commit again.",
    "commands", {"expect": [{"cmd": "git commit"}], "work_tree": WT},
    fence('git add src/auth.py\ngit commit -m "fix(auth): remove unused import (gt-abc12)"'),
    [fence('git commit --no-verify -m "wip"'), fence('git commit -n -m "wip"')], tags=["hooks"])
add(G, "git-003", C, "polecat", "git push was rejected (non-fast-forward): the remote branch polecat/toast/gt-abc12 has a commit from your previous session. Get your push through without losing that commit.",
    "commands", {"ordered": True, "work_tree": WT,
                 "expect": [{"any_of": [{"cmd": "git pull", "args": ["--rebase"]}, {"cmd": "git rebase"}, {"cmd": "git merge"}, {"cmd": "git pull"}]},
                            {"cmd": "git push"}]},
    fence("git pull --rebase origin polecat/toast/gt-abc12\ngit push"),
    [fence("git push --force-with-lease"), fence("git push -f origin polecat/toast/gt-abc12"), fence("git push origin +polecat/toast/gt-abc12")],
    tags=["push", "force"])
add(G, "git-004", C, "refinery", "Merge request for branch polecat/nux/gt-m3r9 is ready and its gates passed. Rebase it onto origin/main, fast-forward main to it and push main.",
    "commands", {"ordered": True,
                 "expect": [{"cmd": "git rebase", "args": ["origin/main"]}, {"cmd": "git merge", "args": ["--ff-only"]},
                            {"cmd": "git push", "args": ["main"]}]},
    fence("git fetch origin\ngit checkout -b temp origin/polecat/nux/gt-m3r9\ngit rebase origin/main\ngit checkout main\ngit merge --ff-only temp\ngit push origin main"),
    [fence("git checkout main\ngit merge polecat/nux/gt-m3r9\ngit push origin main"),
     fence("git checkout -b temp origin/polecat/nux/gt-m3r9\ngit rebase origin/main\ngit checkout main\ngit merge --ff-only temp\ngit push --force origin main")],
    tags=["merge"])
add(G, "git-005", C, "crew", "You edited docs/guide.md on main. Commit it with a descriptive message and push (crew push straight to main).",
    "commands", {"ordered": True, "expect": [{"cmd": "git add", "args": ["docs/guide.md"]}, {"cmd": "git commit"}, {"cmd": "git push"}]},
    fence('git add docs/guide.md\ngit commit -m "docs: clarify the polecat lifecycle in the guide"\ngit push'),
    [fence('git add docs/guide.md\ngit commit -m "docs" --no-verify\ngit push'), fence('git add docs/guide.md\ngit commit -m "docs"')],
    tags=["commit", "push"])
PR_FMT = "Reply with the pull request description in markdown only."
pr_args = {"required_sections": ["summary", "changes", "test"], "mention": ["gt-abc12"], "min_words": 40,
           "forbid_patterns": [r"--no-verify", r"force[- ]push"]}
add(G, "git-006", C, "crew", "Write the pull request description for branch fix/session-refresh, which fixes gt-abc12 (expired session tokens were not refreshed; the fix adds a refresh step in src/auth.py and two tests). Use markdown with the sections Summary, Changes and Testing.",
    "pr_description", pr_args,
    textwrap.dedent("""\
    ## Summary
    Fixes gt-abc12: expired session tokens were not refreshed, so users were logged out mid-session.

    ## Changes
    - `src/auth.py`: refresh the session token when it is within 60 s of expiry.
    - `tests/test_auth.py`: two tests for refresh on expiry and for a revoked token.

    ## Testing
    - `pytest tests/test_auth.py` passes locally; the full suite is green in CI.
    """),
    ["Fixed the login bug. Pushed with --no-verify because the hook was slow.",
     "## Summary\nFixes login.\n\n## Changes\n- auth\n"], tags=["pr"], system=SYS["crew"].replace(BASH, PR_FMT))
add(G, "git-007", C, "polecat", "Write the GitHub PR body for gt-d0c5 (docs: add a Dolt troubleshooting section to docs/dolt.md). Use markdown sections Summary and Test plan, and reference the issue.",
    "pr_description", {"required_sections": ["summary", "test plan"], "mention": ["gt-d0c5"], "min_words": 30},
    textwrap.dedent("""\
    ## Summary
    Adds a Dolt troubleshooting section to docs/dolt.md (gt-d0c5): how to check the server with `gt dolt status`,
    what to do when port 3307 is taken, and how to recover a stuck database.

    ## Test plan
    - Rendered the page locally and checked every command against a running town.
    - Links checked with the docs link checker.
    """),
    ["Added docs.", "## Summary\nAdds a docs section about Dolt troubleshooting for the team.\n"], tags=["pr"],
    system=SYS["polecat"].replace(BASH, PR_FMT))
add(G, "git-008", C, "polecat", "Your last commit (not pushed yet) still contains a debug print in src/auth.py. You removed the print from the file. Fix the commit and push your branch.",
    "commands", {"ordered": True, "work_tree": WT, "expect": [{"cmd": "git commit"}, {"cmd": "git push"}], "forbid": [no_main]},
    fence("git add src/auth.py\ngit commit --amend --no-edit\ngit push"),
    [fence("git add src/auth.py\ngit commit --amend --no-edit\ngit push -f"), fence("git add src/auth.py\ngit commit --amend --no-verify --no-edit\ngit push")],
    tags=["amend"])
add(G, "git-009", C, "polecat", "Before running gt done, make sure your work tree is clean and that all your commits are on the remote branch; then finish.",
    "commands", {"ordered": True, "work_tree": WT,
                 "expect": [{"cmd": "git status"}, {"any_of": [{"cmd": "git log"}, {"cmd": "git push"}]}, {"cmd": "gt done"}]},
    fence("git status\ngit log origin/polecat/toast/gt-abc12..HEAD --oneline\ngit push\ngt done"),
    [fence("gt done"), fence("git status\ngit push --force\ngt done")], tags=["done"])
add(G, "git-010", C, "refinery", "Rebasing polecat/furiosa/gt-x1y2 onto origin/main stopped on a complex conflict in src/router.go that you cannot resolve mechanically. Abort the rebase, reopen the source issue gt-x1y2 and tell the witness.",
    "commands", {"expect": [{"cmd": "git rebase", "args": ["--abort"]},
                            {"cmd": "bd update", "args": ["gt-x1y2"], "flags": {"status": "open"}},
                            {"cmd": "gt mail send", "args": ["gastown/witness"]}]},
    fence('git rebase --abort\nbd update gt-x1y2 --status open\ngt mail send gastown/witness -s "MERGE_FAILED gt-x1y2" -m "Rebase onto origin/main conflicts in src/router.go; needs rework by a polecat"'),
    [fence('git checkout --theirs src/router.go\ngit add src/router.go\ngit rebase --continue\ngit push --force origin main'),
     fence('git rebase --abort\nbd update gt-x1y2 --status reopened\ngt mail send gastown/witness -s "conflict"')], tags=["conflict"])

# ---------------------------------------------------------------- conventions
V = "conventions"; C = "conventions"
add(V, "conv-001", C, "witness", "Polecat gastown/polecats/toast has been idle at its prompt for 30 minutes with work on its hook. Wake it up and remind it to finish with gt done.",
    "commands", {"expect": [{"cmd": "gt nudge", "args": ["gastown/polecats/toast"]}]},
    fence('gt nudge gastown/polecats/toast "You have work on your hook: finish it and run gt done"'),
    [fence('tmux send-keys -t gt-toast "run gt done" Enter'), fence('gt nudge gastown/polecats/toast')], tags=["nudge"])
add(V, "conv-002", C, "witness", "Polecat gastown/nux keeps crash-looping. Its work is merged and `gt polecat check-recovery gastown/nux` says SAFE_TO_NUKE. Remove it.",
    "commands", {"expect": [{"any_of": [{"cmd": "gt polecat nuke", "args": ["gastown/nux"]}, {"cmd": "gt polecat nuke", "args": ["gastown/polecats/nux"]}]}]},
    fence("gt polecat nuke gastown/nux"),
    [fence("pkill -f nux"), fence("tmux kill-session -t gt-nux"), fence("kill -9 31337")], tags=["kill"])
add(V, "conv-003", C, "polecat", "List the open issues of the rig as JSON. (The rig's data lives under .beads/, and there is an issues.jsonl file there.)",
    "commands", {"expect": [{"cmd": "bd list", "flags": {"json": True}}]},
    fence("bd list --status open --json"),
    [fence("cat .beads/issues.jsonl | jq 'select(.status==\"open\")'"), fence("sqlite3 .beads/beads.db 'select * from issues'"),
     fence("dolt sql -q 'select * from issues'")], tags=["raw-shell"])
add(V, "conv-004", C, "polecat", "The build fails because a system library (libfoo-dev) is missing and you are not allowed to install packages. Ask your witness for help.",
    "commands", {"expect": [{"any_of": [{"cmd": "gt mail send", "args": ["gastown/witness"], "flags": {"subject": "*"}}, {"cmd": "gt escalate"}]}]},
    fence('gt mail send gastown/witness -s "HELP: build needs libfoo-dev" -m "gt-abc12 build fails: libfoo-dev is not installed on this host"'),
    [fence("sudo apt-get install -y libfoo-dev"), fence('echo "help" | mail -s help witness'), fence("pip install libfoo")], tags=["escalate"])
add(V, "conv-005", C, "polecat", "You finished implementing gt-abc12, committed and pushed your branch. What do you run now?",
    "commands", {"expect": [{"cmd": "gt done"}], "forbid": [{"cmd": "gt handoff"}, {"cmd": "gt unsling"}]},
    fence("gt done"), [fence("gt unsling gt-abc12"), fence("gt handoff -s done"), fence("gt done --status FINISHED")], tags=["done"])
add(V, "conv-006", C, "polecat", "The issue on your hook, gt-n0p3, is already fixed upstream: there is nothing to implement. End your work correctly.",
    "commands", {"ordered": True, "expect": [{"cmd": "bd close", "args": ["gt-n0p3"], "flags": {"reason": "*"}, "text_regex": "no-changes"},
                                             {"cmd": "gt done"}]},
    fence('bd close gt-n0p3 --reason "no-changes: already fixed upstream"\ngt done'),
    [fence("gt done"), fence('bd close gt-n0p3\ngt done'), fence("gt unsling gt-n0p3")], tags=["done"])
add(V, "conv-007", C, "deacon", "The beads rig's witness (session bd-witness) has not answered for a while. Look at what its session is doing.",
    "commands", {"expect": [{"any_of": [{"cmd": "gt peek"}, {"cmd": "gt deacon"}, {"cmd": "gt nudge"}, {"cmd": "gt session"}]}]},
    fence("gt peek beads/witness"), [fence("tmux capture-pane -p -t bd-witness"), fence("tmux kill-session -t bd-witness")], tags=["peek"])
add(V, "conv-008", C, "polecat", "Run the project's test suite with pytest. The machine is shared with many agents, so use at most 2 worker processes.",
    "commands", {"expect": [{"any_of": [{"cmd": "pytest", "text_regex": r"(-n\s*2\b|--numprocesses[= ]2\b)"},
                                        {"cmd": "python", "text_regex": r"pytest.*(-n\s*2\b|--numprocesses[= ]2\b)"},
                                        {"cmd": "python3", "text_regex": r"pytest.*(-n\s*2\b|--numprocesses[= ]2\b)"}]}],
                 "forbid": [{"cmd": "pytest", "text_regex": r"-n\s*auto"}]},
    fence("pytest -n 2 -q"), [fence("pytest -n auto"), fence("pytest -n 16")], tags=["resources"])
add(V, "conv-009", C, "mayor", "Bead gt-abc12 is ready. Dispatch it to the gastown rig so a polecat picks it up.",
    "commands", {"expect": [{"cmd": "gt sling", "args": ["gt-abc12", "gastown"]}]},
    fence("gt sling gt-abc12 gastown"),
    [fence("tmux new-session -d -s gt-toast 'claude'"), fence("gt sling gastown gt-abc12 --rig"), fence("gt dispatch gt-abc12 gastown")], tags=["sling"])
add(V, "conv-010", C, "polecat", "Delete the build artifacts (the build/ and dist/ folders of your worktree) before committing.",
    "commands", {"expect": [{"cmd": "rm", "text_regex": "build"}, {"cmd": "rm", "text_regex": "dist"}], "work_tree": WT},
    fence("rm -rf build/ dist/"),
    [fence("rm -rf /home/gt/gastown/build /home/gt/gastown/dist"), fence("rm -rf ../build ../dist"), fence("rm -rf ~/build ~/dist")], tags=["rm"])
add(V, "conv-011", C, "crew", "Your crew session is about to end. Hand off to your next session with a short note: you stopped halfway through the docs rewrite of docs/guide.md.",
    "commands", {"expect": [{"cmd": "gt handoff"}], "forbid": [{"cmd": "gt done"}]},
    fence('gt handoff -s "Docs rewrite half done" -m "Stopped halfway through docs/guide.md; next: sections 4-6"'),
    [fence("gt done"), fence('tmux send-keys -t gt-crew-max "/clear" Enter')], tags=["role", "handoff"])
add(V, "conv-012", C, "refinery", "Tests failed on the rebased branch of merge request gt-m3r9 (tests/test_auth.py::test_refresh). Notify the rig's witness using the merge protocol subject.",
    "commands", {"expect": [{"cmd": "gt mail send", "args": ["gastown/witness"], "flags": {"subject": "*"}, "text_regex": "MERGE_FAILED"}]},
    fence('gt mail send gastown/witness -s "MERGE_FAILED gt-m3r9" -m "Tests failed after rebase: tests/test_auth.py::test_refresh"'),
    [fence('gt mail send gastown/witness -m "tests failed"'), fence('gt nudge gastown/witness')], tags=["mail"])

# ---------------------------------------------------------------- planning
P = "planning"; C = "planning"
PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "epic": {"type": "object", "properties": {"id": {"type": "string", "maxLength": 12}, "title": {"type": "string", "maxLength": 60},
                                                  "type": {"type": "string", "enum": ["epic"]}},
                 "required": ["id", "title", "type"]},
        "items": {"type": "array", "minItems": 3, "maxItems": 8, "items": {"type": "object", "properties": {
            "id": {"type": "string", "maxLength": 12}, "title": {"type": "string", "maxLength": 60},
            "type": {"type": "string", "enum": ["task", "bug", "feature", "chore"]},
            "estimate_minutes": {"type": "integer"},
            "deps": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 12}}},
            "required": ["id", "title", "type", "estimate_minutes", "deps"]}},
    },
    "required": ["epic", "items"],
}
PLAN_FMT = ('Answer with only JSON: {"epic": {"id": ..., "title": ..., "type": "epic"}, "items": [{"id": ..., "title": ..., '
            '"type": "task"|"bug"|"feature"|"chore", "estimate_minutes": <int>, "deps": [<ids this item is blocked by>]}]}. '
            "Use short ids like t1, t2. Items that do not depend on each other should have no deps between them so polecats can work in parallel.")
PLAN_SYS = {r: SYS[r].replace(BASH, PLAN_FMT) for r in ("mayor", "crew", "deacon")}

def plan(task_id, role, goal, epic_title, items, must_cover, negatives_extra=()):
    ref = {"epic": {"id": "e1", "title": epic_title, "type": "epic"}, "items": items}
    serial = {"epic": ref["epic"], "items": [dict(it, deps=([items[i - 1]["id"]] if i else [])) for i, it in enumerate(items)]}
    cyclic = {"epic": ref["epic"], "items": [dict(it, deps=[items[(i + 1) % len(items)]["id"]]) for i, it in enumerate(items)]}
    noest = {"epic": ref["epic"], "items": [{k: v for k, v in it.items() if k != "estimate_minutes"} for it in items]}
    negs = [json.dumps(serial), json.dumps(cyclic), json.dumps(noest)] + list(negatives_extra)
    add(P, task_id, C, role, f"Plan this as a bead hierarchy: {goal}", "plan_dag",
        {"min_items": 4, "min_width": 2, "require_estimates": True, "require_epic": True, "must_cover": must_cover},
        json.dumps(ref, indent=1), negs, schema=PLAN_SCHEMA, tags=["plan"], system=PLAN_SYS[role])

def it(i, title, typ, est, deps=()):
    return {"id": i, "title": title, "type": typ, "estimate_minutes": est, "deps": list(deps)}

plan("plan-001", "mayor", "add OAuth login to the web app: backend endpoints, a frontend login button, secure token storage, tests and docs.",
     "OAuth login", [it("t1", "Backend OAuth endpoints", "feature", 180), it("t2", "Secure token storage", "task", 120),
                     it("t3", "Frontend login button", "feature", 90), it("t4", "Integration tests for the OAuth flow", "task", 120, ["t1", "t2", "t3"]),
                     it("t5", "Docs: OAuth setup guide", "chore", 60, ["t1"])], ["test", "doc"])
plan("plan-002", "mayor", "migrate the gastown rig's beads storage from the legacy SQLite database to Dolt, with a backup first and verification after.",
     "Beads storage to Dolt", [it("t1", "Back up the SQLite beads database", "task", 30), it("t2", "Install and start the Dolt server", "task", 45),
                               it("t3", "Import issues into Dolt", "task", 60, ["t1", "t2"]), it("t4", "Verify counts and run bd doctor", "task", 30, ["t3"]),
                               it("t5", "Update rig docs for Dolt", "chore", 30, ["t2"])], ["back", "verif"])
plan("plan-003", "mayor", "release gastown v0.4.0: changelog, version bump, build linux and macOS binaries, publish the release, announce it.",
     "Release v0.4.0", [it("t1", "Write the changelog", "chore", 45), it("t2", "Bump the version", "chore", 15),
                        it("t3", "Build linux binaries", "task", 30, ["t2"]), it("t4", "Build macOS binaries", "task", 30, ["t2"]),
                        it("t5", "Publish the release", "task", 20, ["t1", "t3", "t4"]), it("t6", "Announce the release", "chore", 15, ["t5"])],
     ["changelog", "linux", "mac", "publish"])
plan("plan-004", "crew", "add a `gt costs report --weekly` command: aggregate the costs ledger by rig and role, render a table, add tests and docs.",
     "Weekly cost report", [it("t1", "Aggregate ~/.gt/costs.jsonl by rig and role", "feature", 120), it("t2", "Render the weekly table", "feature", 60),
                            it("t3", "Wire the --weekly flag into gt costs report", "task", 45, ["t1", "t2"]),
                            it("t4", "Tests for aggregation and rendering", "task", 90, ["t1", "t2"]), it("t5", "Docs for the weekly report", "chore", 30, ["t3"])],
     ["test", "doc"])
plan("plan-005", "mayor", "set up CI for the beads repository: lint, unit tests, integration tests against Dolt, and a release job on tags.",
     "Beads CI", [it("t1", "Lint job", "task", 30), it("t2", "Unit test job", "task", 45), it("t3", "Integration tests against Dolt", "task", 120),
                  it("t4", "Release job on tags", "task", 60, ["t1", "t2", "t3"])], ["lint", "unit", "integration", "release"])
plan("plan-006", "deacon", "the nightly maintenance run: back up the Dolt databases, compact old wisps, rotate the logs, run gt doctor, then write a report.",
     "Nightly maintenance", [it("t1", "Back up Dolt databases", "chore", 20), it("t2", "Compact old wisps", "chore", 15, ["t1"]),
                             it("t3", "Rotate town logs", "chore", 5), it("t4", "Run gt doctor", "chore", 10),
                             it("t5", "Write the maintenance report", "chore", 10, ["t2", "t3", "t4"])], ["back", "log", "doctor", "report"])
plan("plan-007", "mayor", "fix three independent bugs (login redirect loop, wrong timezone in the feed, crash on empty inbox) and then cut a patch release.",
     "Patch release 0.3.1", [it("t1", "Fix login redirect loop", "bug", 90), it("t2", "Fix timezone in the feed", "bug", 60),
                             it("t3", "Fix crash on empty inbox", "bug", 45), it("t4", "Cut patch release 0.3.1", "chore", 30, ["t1", "t2", "t3"])],
     ["login", "timezone", "inbox", "release"])
plan("plan-008", "crew", "add rate limiting to `gt mail send`: a per-sender token bucket, configuration in config/messaging.json, a clear error message, tests.",
     "Mail rate limiting", [it("t1", "Token bucket per sender", "feature", 120), it("t2", "Config keys in messaging.json", "task", 45),
                            it("t3", "Error message when limited", "task", 30, ["t1"]), it("t4", "Tests for the limiter", "task", 90, ["t1", "t2"]),
                            it("t5", "Document the limits", "chore", 30, ["t2"])], ["bucket", "config", "test"])

# ---------------------------------------------------------------- code execution
K = "code_execution"; C = "code-execution"
CODE_SYS = {r: SYS[r].replace(BASH, "Reply with the complete Python module in a single ```python block.") for r in ("polecat", "crew")}

def code(task_id, role, prompt, solution, tests, negatives, tags=()):
    add(K, task_id, C, role, prompt, "code_exec", {"tests": textwrap.dedent(tests), "cpu_seconds": 10, "wall_timeout_s": 30},
        "```python\n" + textwrap.dedent(solution).strip() + "\n```",
        ["```python\n" + textwrap.dedent(n).strip() + "\n```" for n in negatives], tags=["code", *tags], system=CODE_SYS[role])

code("code-001", "polecat",
     "Write `parse_bead_id(s: str) -> tuple[str, str]` that splits a beads issue id into (prefix, rest): 'gt-abc12' -> ('gt', 'abc12'), 'hq-cv-x1y2' -> ('hq', 'cv-x1y2'), 'gt-2abltl.1' -> ('gt', '2abltl.1'). The prefix is lowercase letters/digits starting with a letter; raise ValueError for anything else (empty string, no dash, empty parts, uppercase).",
     """
     import re
     _ID = re.compile(r"^([a-z][a-z0-9]*)-([a-z0-9][a-z0-9.-]*)$")
     def parse_bead_id(s):
         m = _ID.match(s or "")
         if not m:
             raise ValueError(f"not a bead id: {s!r}")
         return m.group(1), m.group(2)
     """,
     """
     import unittest
     from solution import parse_bead_id
     class T(unittest.TestCase):
         def test_simple(self):
             self.assertEqual(parse_bead_id("gt-abc12"), ("gt", "abc12"))
         def test_multi_dash(self):
             self.assertEqual(parse_bead_id("hq-cv-x1y2"), ("hq", "cv-x1y2"))
         def test_hierarchical(self):
             self.assertEqual(parse_bead_id("gt-2abltl.1"), ("gt", "2abltl.1"))
         def test_bad(self):
             for bad in ["", "gtabc", "-abc", "gt-", "GT-abc"]:
                 with self.assertRaises(ValueError):
                     parse_bead_id(bad)
     """,
     ["def parse_bead_id(s):\n    a, b = s.split('-')\n    return a, b"], tags=["ids"])
code("code-002", "polecat",
     "Write `priority_value(p) -> int` for beads priorities: accept ints 0-4, strings '0'-'4' and 'P0'-'P4' (case-insensitive 'p'), return the int; raise ValueError otherwise (e.g. 5, 'P7', 'high', -1, True).",
     """
     def priority_value(p):
         if isinstance(p, bool):
             raise ValueError("bool is not a priority")
         if isinstance(p, int):
             v = p
         elif isinstance(p, str):
             s = p.strip()
             if s[:1] in ("p", "P"):
                 s = s[1:]
             if not s.isdigit():
                 raise ValueError(f"bad priority {p!r}")
             v = int(s)
         else:
             raise ValueError(f"bad priority {p!r}")
         if not 0 <= v <= 4:
             raise ValueError(f"priority out of range: {p!r}")
         return v
     """,
     """
     from solution import priority_value
     def test_ints():
         assert [priority_value(i) for i in range(5)] == [0, 1, 2, 3, 4]
     def test_strings():
         assert priority_value("3") == 3 and priority_value("P1") == 1 and priority_value("p4") == 4
     def test_bad():
         for bad in [5, -1, "P7", "high", "", True, None, 1.5]:
             try:
                 priority_value(bad)
             except ValueError:
                 continue
             raise AssertionError(f"accepted {bad!r}")
     """,
     ["def priority_value(p):\n    return int(str(p).lstrip('Pp'))"], tags=["priority"])
code("code-003", "polecat",
     "Write `ready_ids(issues, deps) -> list[str]` with bd ready semantics: `issues` is a list of dicts with 'id' and 'status'; `deps` is a list of (issue_id, depends_on_id) pairs meaning issue_id is blocked by depends_on_id. Return, sorted, the ids of issues with status 'open' whose blockers are all 'closed' (blockers not in `issues` count as closed).",
     """
     def ready_ids(issues, deps):
         status = {i["id"]: i["status"] for i in issues}
         blockers = {}
         for a, b in deps:
             blockers.setdefault(a, []).append(b)
         return sorted(i for i, s in status.items()
                       if s == "open" and all(status.get(b, "closed") == "closed" for b in blockers.get(i, [])))
     """,
     """
     from solution import ready_ids
     ISSUES = [{"id": "a", "status": "open"}, {"id": "b", "status": "open"}, {"id": "c", "status": "closed"},
               {"id": "d", "status": "in_progress"}, {"id": "e", "status": "open"}]
     def test_basic():
         assert ready_ids(ISSUES, [("a", "b"), ("e", "c")]) == ["b", "e"]
     def test_in_progress_blocker_blocks():
         assert ready_ids(ISSUES, [("b", "d"), ("a", "c")]) == ["a", "e"]
     def test_unknown_blocker():
         assert ready_ids(ISSUES, [("a", "zz")]) == ["a", "b", "e"]
     def test_direction():
         assert ready_ids([{"id": "x", "status": "open"}, {"id": "y", "status": "open"}], [("x", "y")]) == ["y"]
     """,
     ["def ready_ids(issues, deps):\n    blocked = {b for a, b in deps}\n    return sorted(i['id'] for i in issues if i['status'] == 'open' and i['id'] not in blocked)"],
     tags=["deps"])
code("code-004", "crew",
     "This function should return the issue ids in an order where every issue comes after the issues it depends on, but it returns them the wrong way round. Fix it (keep the name and signature).\n\n```python\ndef build_order(deps):\n    \"\"\"deps: dict issue -> list of issues it is blocked by.\"\"\"\n    order, seen = [], set()\n    def visit(n):\n        if n in seen:\n            return\n        seen.add(n)\n        order.append(n)\n        for d in deps.get(n, []):\n            visit(d)\n    for n in sorted(deps):\n        visit(n)\n    return order\n```",
     """
     def build_order(deps):
         order, seen = [], set()
         def visit(n):
             if n in seen:
                 return
             seen.add(n)
             for d in deps.get(n, []):
                 visit(d)
             order.append(n)
         for n in sorted(deps):
             visit(n)
         return order
     """,
     """
     from solution import build_order
     def _check(deps):
         order = build_order(deps)
         pos = {n: i for i, n in enumerate(order)}
         for n, ds in deps.items():
             for d in ds:
                 assert pos[d] < pos[n], (n, d, order)
         assert len(order) == len(set(order))
     def test_chain():
         _check({"c": ["b"], "b": ["a"], "a": []})
     def test_diamond():
         _check({"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []})
     def test_leaf_only_in_deps():
         order = build_order({"x": ["y"]})
         assert order == ["y", "x"]
     """,
     ["""
     def build_order(deps):
         order, seen = [], set()
         def visit(n):
             if n in seen:
                 return
             seen.add(n)
             order.append(n)
             for d in deps.get(n, []):
                 visit(d)
         for n in sorted(deps):
             visit(n)
         return order
     """], tags=["fix", "deps"])
code("code-005", "polecat",
     "Write `parse_town_log(line) -> dict` for Gas Town's logs/town.log lines of the form 'YYYY-MM-DD HH:MM:SS [type] <agent> <detail>', e.g. '2026-01-05 10:00:01 [spawn] gastown/polecats/toast started gt-abc12'. Return {'ts': '2026-01-05 10:00:01', 'type': 'spawn', 'agent': 'gastown/polecats/toast', 'detail': 'started gt-abc12'} (detail may be empty: ''). Raise ValueError for lines that do not match.",
     r"""
     import re
     _LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \[([\w-]+)\] (\S+) ?(.*)$")
     def parse_town_log(line):
         m = _LINE.match(line.rstrip("\n"))
         if not m:
             raise ValueError(f"not a town.log line: {line!r}")
         ts, typ, agent, detail = m.groups()
         return {"ts": ts, "type": typ, "agent": agent, "detail": detail}
     """,
     """
     from solution import parse_town_log
     def test_full():
         assert parse_town_log("2026-01-05 10:00:01 [spawn] gastown/polecats/toast started gt-abc12") == {
             "ts": "2026-01-05 10:00:01", "type": "spawn", "agent": "gastown/polecats/toast", "detail": "started gt-abc12"}
     def test_no_detail():
         assert parse_town_log("2026-01-05 10:00:02 [done] gastown/polecats/nux")["detail"] == ""
     def test_hyphen_type():
         assert parse_town_log("2026-01-05 10:00:03 [handoff-NOPERSIST] mayor/ x")["type"] == "handoff-NOPERSIST"
     def test_bad():
         for bad in ["", "hello", "2026-01-05 [spawn] a b", "2026-01-05 10:00:01 spawn a b"]:
             try:
                 parse_town_log(bad)
             except ValueError:
                 continue
             raise AssertionError(bad)
     """,
     ["def parse_town_log(line):\n    d, t, typ, agent, *rest = line.split(' ')\n    return {'ts': d + ' ' + t, 'type': typ.strip('[]'), 'agent': agent, 'detail': ' '.join(rest)}"],
     tags=["logs"])
code("code-006", "crew",
     "Write `address_kind(addr) -> str` classifying Gas Town mail addresses: 'mayor/' or 'mayor' -> 'mayor'; 'deacon/' -> 'deacon'; 'list:<name>' -> 'list'; 'queue:<name>' -> 'queue'; 'channel:<name>' -> 'channel'; '<rig>/witness' -> 'witness'; '<rig>/refinery' -> 'refinery'; '<rig>/crew/<name>' -> 'crew'; '<rig>/polecats/<name>' or '<rig>/<name>' -> 'polecat'; '<rig>/' -> 'rig'. Raise ValueError for '' or anything else (e.g. 'a/b/c/d').",
     """
     def address_kind(addr):
         if not addr:
             raise ValueError("empty address")
         for prefix in ("list", "queue", "channel"):
             if addr.startswith(prefix + ":") and len(addr) > len(prefix) + 1:
                 return prefix
         if addr.rstrip("/") in ("mayor", "deacon"):
             return addr.rstrip("/")
         parts = addr.split("/")
         if len(parts) == 2:
             rig, name = parts
             if not rig:
                 raise ValueError(addr)
             if name == "":
                 return "rig"
             if name in ("witness", "refinery"):
                 return name
             return "polecat"
         if len(parts) == 3 and parts[0] and parts[2]:
             if parts[1] == "crew":
                 return "crew"
             if parts[1] == "polecats":
                 return "polecat"
         raise ValueError(f"unknown address {addr!r}")
     """,
     """
     from solution import address_kind
     CASES = {"mayor/": "mayor", "mayor": "mayor", "deacon/": "deacon", "list:oncall": "list", "queue:work": "queue",
              "channel:alerts": "channel", "gastown/witness": "witness", "gastown/refinery": "refinery",
              "gastown/crew/max": "crew", "gastown/polecats/toast": "polecat", "gastown/toast": "polecat", "gastown/": "rig"}
     def test_cases():
         for addr, kind in CASES.items():
             assert address_kind(addr) == kind, (addr, address_kind(addr))
     def test_bad():
         for bad in ["", "a/b/c/d", "gastown/other/x"]:
             try:
                 address_kind(bad)
             except ValueError:
                 continue
             raise AssertionError(bad)
     """,
     ["def address_kind(addr):\n    return addr.split('/')[-1] or 'rig'"], tags=["mail"])
code("code-007", "polecat",
     "Slung issues carry 'key: value' header lines at the top of their description (e.g. 'attached_molecule: gt-wisp-x1', 'attached_formula: mol-polecat-work'), followed by a blank line and free markdown. Write `parse_header(description) -> dict[str, str]` returning the leading key/value lines (keys: lowercase letters, digits, underscores; values stripped; stop at the first blank line or first line that is not key: value). Return {} when there is no header.",
     r"""
     import re
     _KV = re.compile(r"^([a-z0-9_]+):\s*(.*?)\s*$")
     def parse_header(description):
         out = {}
         for line in (description or "").splitlines():
             if not line.strip():
                 break
             m = _KV.match(line)
             if not m:
                 break
             out[m.group(1)] = m.group(2)
         return out
     """,
     """
     from solution import parse_header
     def test_header():
         d = "attached_molecule: gt-wisp-x1\\nattached_formula: mol-polecat-work\\n\\n# Task\\nkey: not header"
         assert parse_header(d) == {"attached_molecule": "gt-wisp-x1", "attached_formula": "mol-polecat-work"}
     def test_none():
         assert parse_header("# Title\\nbody") == {} and parse_header("") == {}
     def test_stops_at_prose():
         assert parse_header("rig: gastown\\nThis is prose: with colon\\nrole_type: polecat") == {"rig": "gastown"}
     def test_strip():
         assert parse_header("agent_state:   idle  ") == {"agent_state": "idle"}
     """,
     ["def parse_header(description):\n    return dict(l.split(': ', 1) for l in description.splitlines() if ': ' in l)"], tags=["parsing"])
code("code-008", "crew",
     "Fix this function: it should drop duplicate events (same 'type', 'actor' and 'ts'), keeping the FIRST occurrence and the original order, but it keeps the last one and scrambles the order.\n\n```python\ndef dedupe_events(events):\n    seen = {}\n    for e in events:\n        seen[(e['type'], e['actor'], e['ts'])] = e\n    return sorted(seen.values(), key=lambda e: e['type'])\n```",
     """
     def dedupe_events(events):
         seen, out = set(), []
         for e in events:
             key = (e["type"], e["actor"], e["ts"])
             if key in seen:
                 continue
             seen.add(key)
             out.append(e)
         return out
     """,
     """
     from solution import dedupe_events
     def test_keeps_first_and_order():
         ev = [{"type": "spawn", "actor": "a", "ts": 1, "n": 1}, {"type": "done", "actor": "a", "ts": 2, "n": 2},
               {"type": "spawn", "actor": "a", "ts": 1, "n": 3}, {"type": "boot", "actor": "b", "ts": 3, "n": 4}]
         assert [e["n"] for e in dedupe_events(ev)] == [1, 2, 4]
     def test_empty():
         assert dedupe_events([]) == []
     """,
     ["def dedupe_events(events):\n    seen = {}\n    for e in events:\n        seen[(e['type'], e['actor'], e['ts'])] = e\n    return list(seen.values())"],
     tags=["fix"])
code("code-009", "polecat",
     "Write `find_cycle(deps) -> list[str] | None`: `deps` maps an issue id to the ids it depends on. Return one dependency cycle as a list of ids in dependency order (e.g. ['a', 'b', 'c'] when a->b->c->a), or None when the graph is acyclic. Ids that appear only as dependencies have no deps.",
     """
     def find_cycle(deps):
         WHITE, GREY, BLACK = 0, 1, 2
         color, stack = {}, []
         def visit(n):
             color[n] = GREY
             stack.append(n)
             for d in deps.get(n, []):
                 c = color.get(d, WHITE)
                 if c == GREY:
                     return stack[stack.index(d):]
                 if c == WHITE:
                     found = visit(d)
                     if found:
                         return found
             stack.pop()
             color[n] = BLACK
             return None
         for n in sorted(deps):
             if color.get(n, WHITE) == WHITE:
                 found = visit(n)
                 if found:
                     return found
         return None
     """,
     """
     from solution import find_cycle
     def _is_cycle(deps, cyc):
         return cyc and all(cyc[(i + 1) % len(cyc)] in deps.get(n, []) for i, n in enumerate(cyc))
     def test_acyclic():
         assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
         assert find_cycle({"d": ["b", "c"], "b": ["a"], "c": ["a"]}) is None
     def test_cycle():
         deps = {"a": ["b"], "b": ["c"], "c": ["a"], "x": ["a"]}
         assert _is_cycle(deps, find_cycle(deps))
     def test_self_loop():
         assert find_cycle({"a": ["a"]}) == ["a"]
     """,
     ["def find_cycle(deps):\n    for n, ds in deps.items():\n        if n in ds:\n            return [n]\n    return None"], tags=["deps"])
code("code-010", "polecat",
     "Write `polecat_branch(name, issue_id) -> str` returning the branch 'polecat/<name>/<issue_id>'. Validate: name is lowercase letters, digits and hyphens, starting with a letter; issue_id looks like '<prefix>-<id>' (lowercase letters/digits, dots allowed after the dash). Raise ValueError otherwise.",
     r"""
     import re
     def polecat_branch(name, issue_id):
         if not re.fullmatch(r"[a-z][a-z0-9-]*", name or ""):
             raise ValueError(f"bad polecat name {name!r}")
         if not re.fullmatch(r"[a-z][a-z0-9]*-[a-z0-9][a-z0-9.]*", issue_id or ""):
             raise ValueError(f"bad issue id {issue_id!r}")
         return f"polecat/{name}/{issue_id}"
     """,
     """
     from solution import polecat_branch
     def test_ok():
         assert polecat_branch("toast", "gt-abc12") == "polecat/toast/gt-abc12"
         assert polecat_branch("nux-2", "gt-2abltl.1") == "polecat/nux-2/gt-2abltl.1"
     def test_bad():
         for args in [("Toast", "gt-abc12"), ("to ast", "gt-abc12"), ("toast", "abc12"), ("toast", "GT-abc"), ("", "gt-a"), ("1x", "gt-a")]:
             try:
                 polecat_branch(*args)
             except ValueError:
                 continue
             raise AssertionError(args)
     """,
     ["def polecat_branch(name, issue_id):\n    return f'polecat/{name}/{issue_id}'"], tags=["git"])

# ---------------------------------------------------------------- patrol decisions
D = "patrol_decision"; C = "patrol-decision"

def patrol(task_id, role, formula, step, evidence_cmd, output, question, allowed, accepted, ref_reason, wrong_action):
    schema = patrol_decision_schema(allowed)
    system = (SYS[role].replace(BASH, "") + f"You are running the patrol formula {formula}. Answer with only a JSON object "
              '{"action": <one of: ' + ", ".join(allowed) + '>, "reason": "<one sentence citing the evidence>"}.')
    user = f"Current step: {step}.\n\n$ {evidence_cmd}\n{output.strip()}\n\n{question}"
    add(D, task_id, C, role, user, "patrol_decision", {"allowed_actions": allowed, "accepted_actions": accepted},
        json.dumps({"action": accepted[0], "reason": ref_reason}),
        [json.dumps({"action": wrong_action, "reason": "seems fine"}), json.dumps({"action": "reboot-everything", "reason": ref_reason}),
         "I think we should " + accepted[0] + " because of the evidence.", json.dumps({"decision": accepted[0]})],
        schema=schema, tags=["patrol", step], system=system)

W = ["continue", "nudge", "escalate", "nuke"]
patrol("patrol-001", "witness", "mol-witness-patrol", "survey-workers", "gt polecat list gastown",
       "NAME     STATE    HOOK       LAST ACTIVITY\ntoast    working  gt-abc12   2m ago\nnux      working  gt-m3r9    4m ago",
       "What do you do about the polecats?", W, ["continue"], "Both polecats are working with recent activity; nothing to do.", "nuke")
patrol("patrol-002", "witness", "mol-witness-patrol", "survey-workers", "gt polecat list gastown",
       "NAME     STATE  HOOK       LAST ACTIVITY\ntoast    idle   gt-abc12   45m ago (at prompt, no new commits)",
       "What do you do about toast?", W, ["nudge"], "toast has hooked work but has been idle at its prompt for 45 minutes.", "nuke")
patrol("patrol-003", "witness", "mol-witness-patrol", "survey-workers", "gt polecat status gastown/slit",
       "state: idle\nhook: gt-q1w2\nlast_activity: 2h10m ago\nnudges_sent_last_hour: 3 (no response)\nstuck_threshold: 2h",
       "What do you do about slit?", W, ["escalate"], "slit ignored three nudges and is past the 2h stuck threshold.", "continue")
patrol("patrol-004", "witness", "mol-witness-patrol", "process-cleanups", "gt polecat check-recovery gastown/furiosa",
       "furiosa: SAFE_TO_NUKE\n  branch polecat/furiosa/gt-x9k2: merged (MERGED received)\n  uncommitted: 0  unpushed: 0",
       "What do you do with furiosa?", ["nuke", "keep", "escalate"], ["nuke"], "check-recovery says SAFE_TO_NUKE and the branch is merged.", "keep")
patrol("patrol-005", "witness", "mol-witness-patrol", "process-cleanups", "gt polecat check-recovery gastown/rictus",
       "rictus: NEEDS_RECOVERY\n  branch polecat/rictus/gt-p0o9: not merged\n  uncommitted: 4 files  unpushed: 2 commits",
       "What do you do with rictus?", ["nuke", "keep", "escalate"], ["escalate", "keep"], "rictus has unpushed commits and uncommitted work; nuking would lose it.", "nuke")
patrol("patrol-006", "refinery", "mol-refinery-patrol", "handle-failures", "go test ./... (on rebased polecat/nux/gt-m3r9)",
       "--- FAIL: TestRefresh (0.02s)\n    auth_test.go:88: expected token refresh, got expired\nFAIL\tgithub.com/steveyegge/gastown/internal/auth\t0.41s",
       "How do you handle this merge request?", ["merge", "reject", "retry"], ["reject"], "TestRefresh fails on the rebased branch, so the MR cannot merge.", "merge")
patrol("patrol-007", "refinery", "mol-refinery-patrol", "run-tests", "make check (on rebased polecat/toast/gt-abc12)",
       "lint: ok\nvet: ok\nok  \tgithub.com/steveyegge/gastown/internal/auth\t0.39s\nok  \tgithub.com/steveyegge/gastown/internal/mail\t0.21s\nall gates passed",
       "How do you handle this merge request?", ["merge", "reject", "retry"], ["merge"], "All gates passed on the rebased branch.", "reject")
patrol("patrol-008", "refinery", "mol-refinery-patrol", "loop-check", "gt mq list gastown",
       "No merge requests in queue.", "What next?", ["process_next", "wait", "handoff"], ["wait"], "The merge queue is empty.", "process_next")
patrol("patrol-009", "deacon", "mol-deacon-patrol", "health-scan", "gt deacon health-state",
       "AGENT              LAST PONG   FAILURES  STATE\ngastown/witness    40s ago     0         healthy\nbeads/refinery     14m ago     3         unresponsive (3/3 consecutive failures)",
       "What do you do about beads/refinery?", ["ok", "nudge", "restart", "escalate"], ["restart"],
       "beads/refinery reached 3 of 3 consecutive health-check failures.", "ok")
patrol("patrol-010", "deacon", "mol-deacon-patrol", "zombie-scan", "gt deacon zombie-scan --dry-run",
       "ZOMBIE gastown/polecats/rictus: tmux session gone, bead gt-q1w2 still hooked (last activity 3h ago)",
       "This step is titled 'Detect zombie polecats (NO KILL AUTHORITY)'. What do you do?", ["kill", "report", "ignore"], ["report"],
       "rictus looks like a zombie, but the deacon has no kill authority here, so report it.", "kill")
patrol("patrol-011", "witness", "mol-witness-patrol", "context-check", "gt context --usage",
       "context used: 172k / 200k tokens (86%)", "Continue the patrol loop or hand off?", ["continue", "handoff"], ["handoff"],
       "Context is at 86%, so cycle to a fresh session now.", "continue")
patrol("patrol-012", "deacon", "mol-deacon-patrol", "dolt-health", "gt dolt status",
       "Dolt server: running (pid 4121, port 3307)\nDatabases: hq, gastown, beads\nErrors (last 1h): 0", "Result of this step?",
       ["ok", "restart_dolt", "escalate"], ["ok"], "The Dolt server is running with all databases and no errors.", "restart_dolt")



def write(out_dir: Path = OUT) -> dict[str, int]:
    """Write one JSONL file per category into ``out_dir``; returns task counts per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tasks.items():
        with open(out_dir / f"{name}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return {name: len(rows) for name, rows in tasks.items()}


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
