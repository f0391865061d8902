"""Known-bad variants of kept command answers (DPO ``rejected`` side) and the pairs built from them.

| family | failure_mode | rejected |
|---|---|---|
| dep | ``wrong_dep_direction`` | ``bd dep add <blocker> <blocked>`` (ids swapped) |
| create, priority | ``invalid_priority`` | ``-p 5`` / ``-p high`` |
| close | ``unknown_flag`` | ``--message`` instead of ``--reason`` |
| status, reopen | ``invalid_status`` | ``--status in-progress`` / ``started`` / ``waiting`` / ``reopened`` ... |
| label | ``unknown_subcommand`` | ``bd label <id> <label>`` (no ``add``) |
| epic | ``missing_parent`` | the child creates without ``--parent`` |
| sling | ``unknown_flag`` | ``gt sling <id> --rig <rig>`` |
| mail | ``missing_subject`` | ``gt mail send`` without ``-s`` |
| nudge | ``raw_shell`` | ``tmux send-keys -t <session> "<msg>" Enter`` |
| escalate | ``invalid_severity`` | ``-s URGENT`` |
| done | ``wrong_branch`` | ``git push origin HEAD:main`` instead of ``gt done`` |
| handoff | ``pkill`` | ``tmux kill-session -t <session>`` instead of ``gt handoff`` |

Every variant is checked to be bad before it is returned: the command validator or the
convention checks reject it, the dependency check sees the reversed edge, no child carries
``--parent``, or (``wrong_branch``) :func:`examples_transcript.command_failure_modes` flags it.

Usage::

    from node0_ops.corpus.examples_commands import bad_variant, command_dpo_pairs
    rejected, mode = bad_variant(example)          # None when the family has no bad variant
    pairs = command_dpo_pairs(examples)            # DpoPair(origin="mutation") per example
"""

import re

from node0_ops.corpus.examples_commands.framing import render_answer
from node0_ops.corpus.examples_commands.verify import verify
from node0_ops.corpus.examples_transcript import command_failure_modes
from node0_ops.corpus.schema import DpoPair, Example, stable_id

_STATUS_TYPOS = {"in_progress": "in-progress", "blocked": "waiting", "deferred": "later", "open": "todo"}


def _session(address: str, prefix: str) -> str:
    return f"{prefix}-{address.rstrip('/').rsplit('/', 1)[-1]}"


def _mutate(family: str, cmds: list[str], meta: dict) -> tuple[list[str], str] | None:
    first = cmds[0]
    h = int(stable_id(first, n=4), 16)
    if family == "dep" and meta.get("dep"):
        a, b, _ = meta["dep"]
        return [first.replace(f" {a} --blocked-by {b}", f" {b} --blocked-by {a}").replace(f" {a} {b}", f" {b} {a}")], \
            "wrong_dep_direction"
    if family in ("create", "priority"):
        return [re.sub(r" -p \d", " -p " + ("5" if h % 2 else "high"), first, count=1)], "invalid_priority"
    if family == "close":
        return [first.replace(" --reason ", " --message ", 1)], "unknown_flag"
    if family == "status":
        m = re.search(r"--status (\w+)|--claim", first)
        typo = _STATUS_TYPOS.get(m.group(1), "started") if m and m.group(1) else "claimed"
        return [re.sub(r"--status \w+|--claim", f"--status {typo}", first, count=1)], "invalid_status"
    if family == "reopen":
        bead = meta["beads"][0]
        return [f"bd update {bead} --status reopened"], "invalid_status"
    if family == "label":
        return [first.replace("bd label add ", "bd label ", 1)], "unknown_subcommand"
    if family == "epic":
        return [re.sub(r' --parent (?:"\$EPIC"|\S+)', "", c) for c in cmds], "missing_parent"
    if family == "sling":
        m = re.fullmatch(r"gt sling (\S+) (\S+)", first)
        return ([f"gt sling {m.group(1)} --rig {m.group(2).split('/')[0]}"], "unknown_flag") if m else None
    if family == "mail":
        return [re.sub(r""" -s (?:'[^']*'|"[^"]*"|\S+)""", "", first, count=1)], "missing_subject"
    if family == "nudge":
        m = re.fullmatch(r"gt nudge (\S+) (.+)", first)
        if not m:
            return None
        return [f"tmux send-keys -t {_session(m.group(1), meta['beads'][0].split('-', 1)[0])} {m.group(2)} Enter"], \
            "raw_shell"
    if family == "escalate":
        return [re.sub(r"-s [A-Z]+", "-s URGENT", first, count=1)], "invalid_severity"
    if family == "done":
        return [c for c in cmds if not c.startswith("gt done")] + ["git push origin HEAD:main"], "wrong_branch"
    if family == "handoff":
        who = meta.get("role") or "crew"
        return [f"tmux kill-session -t {meta['beads'][0].split('-', 1)[0]}-{who}"], "pkill"
    return None


def _is_bad(mode: str, bad: list[str], meta: dict) -> bool:
    if mode == "wrong_branch":
        return any("wrong_branch" in command_failure_modes(c, "polecat") for c in bad)
    if mode == "missing_parent":
        return not any("--parent" in c for c in bad)
    dep = tuple(meta["dep"]) if meta.get("dep") else None
    return not verify(bad, render_answer(bad), dep=dep).ok


def bad_variant(example: Example) -> tuple[str, str] | None:
    """``(rejected_answer, failure_mode)`` for a command-task example, or None when its family has
    no bad variant or the variant would not be caught by the checkers.

    Raises:
        ValueError: ``example`` is not from this generator (``origin != "commands"``).
    """
    if example.origin != "commands":
        raise ValueError(f"bad_variant: example {example.example_id} has origin {example.origin!r}, "
                         "not 'commands'")
    meta = example.meta
    out = _mutate(meta["family"], list(meta["commands"]), {**meta, "role": example.role})
    if out is None:
        return None
    bad, mode = out
    if bad == list(meta["commands"]) or not _is_bad(mode, bad, meta):
        return None
    return render_answer(bad), mode


def command_dpo_pairs(examples) -> list[DpoPair]:
    """One ``DpoPair`` (origin ``mutation``) per command-task example that has a bad variant:
    prompt = the example's messages before the answer, chosen = its answer."""
    pairs = []
    for ex in examples:
        if ex.origin != "commands":
            continue
        got = bad_variant(ex)
        if got is None:
            continue
        rejected, mode = got
        pairs.append(DpoPair(role=ex.role, task=ex.task, prompt=ex.messages[:-1], chosen=ex.messages[-1]["content"],
                             rejected=rejected, failure_mode=mode, origin="mutation", source_key=ex.source_key,
                             record_ids=list(ex.record_ids)))
    return pairs
