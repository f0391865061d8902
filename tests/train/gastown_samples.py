"""Synthetic Gas Town-like chat examples and DPO pairs for training tests."""

import json


ROLES_CMDS = [
    ("polecat", "Claim gt-{n} and start work.", "Claiming the bead on my hook.", "bd update gt-{n} --claim"),
    ("polecat", "Tests pass for gt-{n}; finish up.", "Submitting through the merge queue.", "gt done"),
    ("witness", "Polecat furiosa has been idle 20 minutes on gt-{n}.", "Nudging furiosa first.",
     "gt nudge gastown/polecats/furiosa \"status on gt-{n}?\""),
    ("refinery", "MR for gt-{n} is ready in the queue.", "Rebasing onto main and running the gates.",
     "git rebase origin/main && go test ./..."),
    ("mayor", "File a bead to fix the flaky test in rig gastown (gt-{n}).", "Filing it and slinging to a polecat.",
     "bd create \"fix flaky test\" -p 2 && gt sling gt-{n} gastown"),
]


def make_example(i: int, role: str | None = None) -> dict:
    rows = [r for r in ROLES_CMDS if role in (None, r[0])]
    r, user, text, cmd = rows[i % len(rows)]
    n = 100 + i
    msgs = [
        {"role": "system", "content": f"You are the Gas Town {r}. Work through gt and bd; never pkill."},
        {"role": "user", "content": user.format(n=n)},
        {"role": "assistant", "content": text, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "bash",
                                                              "arguments": json.dumps({"command": cmd.format(n=n)})}}]},
        {"role": "tool", "tool_call_id": f"c{i}", "content": f"ok (gt-{n})"},
        {"role": "assistant", "content": f"Done with gt-{n}." + " Checked." * (i % 4)},
    ]
    return {"example_id": f"ex{i}", "role": r, "task": "bead-management", "messages": msgs}


def make_pair(i: int) -> dict:
    n = 200 + i
    return {"pair_id": f"p{i}", "prompt": [{"role": "system", "content": "You are the Gas Town witness."},
                                           {"role": "user", "content": f"Polecat on gt-{n} is stuck."}],
            "chosen": f"gt nudge gastown/polecats/nux \"status on gt-{n}?\"",
            "rejected": f"pkill -f polecat-{n}"}
