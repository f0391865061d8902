"""DPO preference pairs: successful-vs-failed sessions and rule-based command mutations.

Three origins (``DpoPair.origin``):

``session_pair``
    A failed transcript (:func:`session_outcome`) is matched with the most similar successful
    sessions of the same role (word-set Jaccard of their :func:`task_text` — first request plus
    ``bd show`` output — at least ``MIN_SIMILARITY``). At the failed session's decision point (the
    first step whose command violates a convention, the step that ran out of time for
    ``timeout``, or the step after a failing test run for ``broke_tests``), the successful
    session's step making the same decision (same *intent*: stop a session, publish = push or
    ``gt done``, commit, add a dependency, read a bead, nudge, run tests, ...; closest command
    and position) is ``chosen`` and the failed step is ``rejected``; ``broke_tests`` needs a peer
    that itself recovered from a failing test run. Convention violations use the successful
    session's context as the prompt (the violation is wrong there too); ``timeout`` and
    ``broke_tests`` use the failed session's context, since the decision depends on what it saw.

``session_fix``
    A failed session's ``bd dep add A B`` whose reverse the session itself had stated ("Must land
    before A" on B, "B needs A" in the request or ``bd show``) and no peer linked the same beads:
    ``rejected`` is the real failed step, ``chosen`` the same step with the beads swapped.

``mutation``
    For every chat example (given, or built from the records) and every assistant step with a
    mutable command, :func:`node0_ops.corpus.mutations.mutate` produces the rejected action;
    prompt = messages before that step; one pair per (example, failure mode).

``chosen``/``rejected`` are assistant replies rendered as text (:func:`render_action`); the
prompt is OpenAI-shape messages (TRL conversational DPO format).

Usage::

    from node0_ops.corpus.dpo import build_dpo_pairs
    pairs = build_dpo_pairs(records, examples)
"""

import re
from collections.abc import Sequence

from node0_ops.corpus.examples_common import call_command, render_action, role_card, split_command, system, user
from node0_ops.corpus.examples_transcript import (
    TEST_CMD_RE, TEST_FAIL_RE, Session, Step, command_failure_modes, is_timeout, offending_calls, parse_session,
    progress_lines, session_outcome, step_task,
)
from node0_ops.corpus.mutations import MUTATION_MODES, mutate
from node0_ops.corpus.schema import DpoPair, Example, Record

MIN_SIMILARITY = 0.1   # same role is required too; patrol sessions share little request text
_WORDS = re.compile(r"[a-z0-9][a-z0-9_-]+")


# gt commands that stop, restart or reap agent sessions (what pkill/tmux kill-session bypass)
_STOP_CMDS = {("gt", "polecat", "nuke"), ("gt", "polecat", "remove"), ("gt", "session", "stop"),
              ("gt", "session", "restart"), ("gt", "crew", "stop"), ("gt", "crew", "restart"),
              ("gt", "deacon", "cleanup-orphans"), ("gt", "deacon", "force-kill"), ("gt", "deacon", "restart"),
              ("gt", "deacon", "stop"), ("gt", "witness", "restart"), ("gt", "witness", "stop"),
              ("gt", "refinery", "restart"), ("gt", "refinery", "stop"), ("gt", "dog", "stop")}


def intent(cmd: str) -> str:
    """Coarse intent of a shell line, used to align steps across sessions.

    ``stop_session`` (gt polecat nuke, gt session stop/restart, gt deacon cleanup-orphans, ...,
    pkill, tmux kill-session), ``push`` (any line with ``git push``), ``commit``, ``dep`` (bd dep add), ``read_bead`` (bd show, cat .beads, dolt sql select),
    ``update_bead``, ``nudge`` (gt nudge, tmux send-keys), ``done`` (gt done), ``test`` (test
    runners), else ``<prog> <sub>`` of the first simple command.
    """
    segs = split_command(cmd)
    for argv in segs:
        a = [x for x in argv if not re.fullmatch(r"\w+=.*", x)]
        if not a:
            continue
        p2 = a[:2]
        if tuple(a[:3]) in _STOP_CMDS or a[0] in ("pkill", "killall", "kill") or \
                (a[0] == "tmux" and len(a) > 1 and a[1].startswith("kill-")):
            return "stop_session"
        if p2 == ["gt", "nudge"] or (a[0] == "tmux" and len(a) > 1 and a[1] in ("send-keys", "send")):
            return "nudge"
        if p2 == ["gt", "done"]:
            return "done"
        if a[:3] == ["bd", "dep", "add"]:
            return "dep"
        if p2 == ["bd", "show"] or (a[0] in ("cat", "grep", "jq") and any(".beads" in x for x in a)) or \
                (a[0] == "dolt" and "sql" in a and re.search(r"\bselect\b", cmd, re.I)):
            return "read_bead"
        if p2 in (["bd", "update"], ["bd", "close"]) or (a[0] in ("dolt", "sqlite3") and re.search(r"\bupdate\b", cmd, re.I)):
            return "update_bead"
    for sub in ("push", "commit"):            # a commit-and-push line is a push decision
        if any(argv[:2] == ["git", sub] for argv in segs):
            return sub
    if TEST_CMD_RE.search(cmd):
        return "test"
    a = segs[-1] if segs else []
    return " ".join(a[:2]) if a else ""


def _words(text: str) -> set[str]:
    return set(_WORDS.findall((text or "").lower()))


def task_text(sess: Session) -> str:
    """What a session was asked to do: its first request plus what ``bd show`` / ``gt hook`` printed."""
    parts = [sess.requests[0].text if sess.requests else ""]
    for _, _, st in sess.steps():
        for cmd, res in zip(st.commands(), st.results):
            if any(argv[:2] in (["bd", "show"], ["gt", "hook"]) for argv in split_command(cmd)):
                parts.append((res.get("content") or "")[:1500])
    return "\n".join(parts)


def _similarity(a: Session, b: Session) -> float:
    wa, wb = _words(task_text(a)), _words(task_text(b))
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def _context(sess: Session, ri: int, si: int, through_results: bool = False) -> list[dict]:
    """Prompt messages up to step ``si`` of request ``ri`` (its results too if ``through_results``)."""
    req = sess.requests[ri]
    before = req.steps[:si]
    ask = req.text or "Continue with the work on your hook."
    msgs = [system(role_card(sess.role, sess.rig)), user(ask)]
    for st in before[-4:]:
        msgs.append(st.message)
        msgs += _fill_results(st)
    if len(before) > 4:
        lines = [ln for st in before[:-4] for ln in progress_lines(st)][-8:]
        msgs[1] = user(ask + "\n\nEarlier in this session:\n" + "\n".join(lines))
    if through_results:
        st = req.steps[si]
        msgs.append(st.message)
        msgs += _fill_results(st)
    return msgs


def _fill_results(st: Step) -> list[dict]:
    got = {r["tool_call_id"] for r in st.results}
    extra = [{"role": "tool", "tool_call_id": c["id"], "content": "[no result recorded]"}
             for c in st.message.get("tool_calls") or [] if c["id"] not in got]
    return list(st.results) + extra


# "publish my work" is one decision: a polecat's `gt done` pushes and files the MR
_SAME_DECISION = {"push": ("push", "done"), "done": ("done", "push")}


def _relpos(sess: Session, ri: int, si: int) -> float:
    flat = [(r, s) for r, s, _ in sess.steps()]
    return flat.index((ri, si)) / max(1, len(flat) - 1)


def _best_step(sess: Session, bad_cmd: str, bad_pos: float, unlike: Step | None = None):
    """The violation-free step of ``sess`` that makes the same decision as ``bad_cmd``.

    Candidates share its intent (push and ``gt done`` count as one); among them the best
    scores ``token Jaccard(command, bad_cmd) + 0.5 * (1 - |relative position difference|)``,
    earliest first on ties. Steps whose commands equal ``unlike``'s are skipped.
    """
    want = _SAME_DECISION.get(intent(bad_cmd), (intent(bad_cmd),))
    avoid = set(unlike.commands()) if unlike is not None else set()
    bad_tokens = {t for argv in split_command(bad_cmd) for t in argv}
    best, best_score = None, -1.0
    for ri, si, st in sess.steps():
        cmds = st.commands()
        if not cmds or (avoid and set(cmds) == avoid):
            continue
        for cmd in cmds:
            if intent(cmd) not in want or command_failure_modes(cmd, sess.role):
                continue
            toks = {t for argv in split_command(cmd) for t in argv}
            score = len(toks & bad_tokens) / max(1, len(toks | bad_tokens)) + 0.5 * (1 - abs(_relpos(sess, ri, si) - bad_pos))
            if score > best_score:
                best, best_score = (ri, si, st), score
    return best


def _failing_test_then_next(sess: Session):
    """``(ri, si_test, next_step)`` for the first failing test run followed by another step."""
    for ri, req in enumerate(sess.requests):
        for si, st in enumerate(req.steps[:-1]):
            for cmd, res, err in zip(st.commands(), st.results, st.errors):
                if TEST_CMD_RE.search(cmd) and (err or TEST_FAIL_RE.search(res.get("content") or "")):
                    return ri, si, req.steps[si + 1]
    return None


def _timeout_step(sess: Session):
    """The step that ran the session out of time: the last one with a timeout result, else the
    last step when a call was never answered."""
    hit, last = None, None
    for ri, si, st in sess.steps():
        last = (ri, si, st)
        if any(is_timeout(res.get("content") or "", err) for res, err in zip(st.results, st.errors)):
            hit = (ri, si, st)
    if sess.unanswered_calls and last:
        return last
    return hit


def _pair(role, task, prompt, chosen_msg, rejected_msg, mode, origin, source_key, record_ids) -> DpoPair | None:
    chosen, rejected = render_action(chosen_msg), render_action(rejected_msg)
    if not chosen or not rejected or chosen == rejected:
        return None
    return DpoPair(role=role, task=task, prompt=prompt, chosen=chosen, rejected=rejected,
                   failure_mode=mode, origin=origin, source_key=source_key, record_ids=record_ids)


def session_pairs(records: Sequence[Record]) -> list[DpoPair]:
    """Pairs from failed vs successful transcripts of the same role on similar requests.

    The pair's ``source_key`` is the failed session's key and ``record_ids`` holds both
    records, so partitioning keeps both sessions and the pair in one split.
    """
    sessions, out = [], []
    for rec in records:
        if rec.kind != "transcript":
            continue
        try:
            sess = parse_session(rec)
        except ValueError:
            continue
        if sess.role and sess.requests:
            sessions.append((sess, *session_outcome(sess)))
    good = [s for s, outcome, _ in sessions if outcome == "success"]
    for bad, outcome, modes in sessions:
        if outcome != "failed":
            continue
        peers = sorted((s for s in good if s.role == bad.role),
                       key=lambda s: (-_similarity(bad, s), s.record.record_id))
        peers = [s for s in peers if _similarity(bad, s) >= MIN_SIMILARITY]
        done_modes = set()
        ids = lambda g: [bad.record.record_id, g.record.record_id]  # noqa: E731
        for ri, si, cmd, mode in offending_calls(bad):
            if mode in done_modes:
                continue
            bad_step = bad.requests[ri].steps[si]
            for g in peers:
                hit = _best_step(g, cmd, _relpos(bad, ri, si))
                if hit is None:
                    continue
                gri, gsi, gst = hit
                if mode == "wrong_dep_direction" and not any(
                        mutate(c, "wrong_dep_direction") == cmd for c in gst.commands()):
                    continue     # only when the two sessions linked the same beads
                task = step_task(gst) or step_task(bad_step) or "git-workflow"
                p = _pair(bad.role, task, _context(g, gri, gsi), gst.message, bad_step.message, mode,
                          "session_pair", bad.record.source_key, ids(g))
                if p:
                    out.append(p)
                    done_modes.add(mode)
                    break
            if mode == "wrong_dep_direction" and mode not in done_modes:
                p = _dep_fix_pair(bad, ri, si, cmd)
                if p:
                    out.append(p)
                    done_modes.add(mode)
        if "broke_tests" in modes and (hit := _failing_test_then_next(bad)) is not None:
            ri, si, bad_next = hit
            for g in peers:
                fix = _failing_test_then_next(g)
                if fix is None:
                    continue
                task = step_task(fix[2]) or "git-workflow"
                p = _pair(bad.role, task, _context(bad, ri, si, through_results=True), fix[2].message,
                          bad_next.message, "broke_tests", "session_pair", bad.record.source_key, ids(g))
                if p:
                    out.append(p)
                    break
        if "timeout" in modes and (hit := _timeout_step(bad)) is not None:
            ri, si, bad_step = hit
            cmds = bad_step.commands()
            for g in peers:
                alt = _best_step(g, cmds[-1], _relpos(bad, ri, si), unlike=bad_step) if cmds else None
                if alt is None:
                    continue
                task = step_task(alt[2]) or step_task(bad_step) or "git-workflow"
                p = _pair(bad.role, task, _context(bad, ri, si), alt[2].message, bad_step.message,
                          "timeout", "session_pair", bad.record.source_key, ids(g))
                if p:
                    out.append(p)
                    break
    return out


def _dep_fix_pair(bad: Session, ri: int, si: int, cmd: str) -> DpoPair | None:
    """``session_fix`` pair for a wrong ``bd dep add``: the failed step is ``rejected``; ``chosen``
    is the same step with the two beads swapped, the direction the session itself had stated
    before (:func:`offending_calls` only flags a dep add whose reverse was stated)."""
    step = bad.requests[ri].steps[si]
    fixed = mutate(cmd, "wrong_dep_direction")
    if fixed is None:
        return None
    calls = [{**c, "function": {**c["function"], "arguments": _with_command(c, fixed)}}
             if call_command(c) == cmd else c for c in step.message.get("tool_calls") or []]
    chosen = {**step.message, "tool_calls": calls}
    return _pair(bad.role, "bead-management", _context(bad, ri, si), chosen, step.message,
                 "wrong_dep_direction", "session_fix", bad.record.source_key, [bad.record.record_id])


def mutation_pairs(examples: Sequence[Example]) -> list[DpoPair]:
    """One pair per (chat example, failure mode) at the first assistant step with a mutable command."""
    out = []
    for ex in examples:
        if ex.kind != "chat" or not ex.messages:
            continue
        for mode in MUTATION_MODES:
            pair = _mutate_example(ex, mode)
            if pair:
                out.append(pair)
    return out


def _mutate_example(ex: Example, mode: str) -> DpoPair | None:
    for i, msg in enumerate(ex.messages):
        if msg.get("role") != "assistant" or not msg.get("tool_calls"):
            continue
        new_calls, changed = [], False
        for call in msg["tool_calls"]:
            cmd = call_command(call)
            bad = mutate(cmd, mode, ex.role) if (cmd is not None and not changed) else None
            if bad is None:
                new_calls.append(call)
                continue
            changed = True
            new_calls.append({**call, "function": {**call["function"], "arguments": _with_command(call, bad)}})
        if changed:
            rejected = {**msg, "tool_calls": new_calls}
            return _pair(ex.role, ex.task, ex.messages[:i], msg, rejected, mode, "mutation",
                         ex.source_key, list(ex.record_ids))
    return None


def _with_command(call: dict, cmd: str) -> str:
    import json
    args = json.loads(call["function"]["arguments"])
    args["command"] = cmd
    return json.dumps(args, ensure_ascii=False)


def build_dpo_pairs(records: Sequence[Record], examples: Sequence[Example] = ()) -> list[DpoPair]:
    """All DPO pairs: session pairs from ``records``, mutation pairs from ``examples`` and the
    command tasks' checker-verified bad variants (:func:`examples_commands.command_dpo_pairs`).

    Args:
        records: scrubbed records (transcripts are used for session pairs).
        examples: SFT examples to mutate; when empty they are built from ``records``
            with :func:`node0_ops.corpus.format_sft.build_examples`.
    Returns:
        Pairs unique by ``pair_id``, session pairs first.
    """
    if not examples:
        from node0_ops.corpus.format_sft import build_examples
        examples = build_examples(records)
    from node0_ops.corpus.examples_commands import command_dpo_pairs

    seen, out = set(), []
    for p in session_pairs(records) + mutation_pairs(examples) + command_dpo_pairs(examples):
        if p.pair_id not in seen:
            seen.add(p.pair_id)
            out.append(p)
    return out
