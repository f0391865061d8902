"""Claude Code session transcripts -> session outcome and task-tagged chat windows.

A transcript record's payload is ``{session_id, cwd, entries: [{line, type, timestamp, role,
content: [blocks]}]}`` (collect.py); blocks are ``text``, ``thinking``, ``tool_use {id, name,
input}`` and ``tool_result {tool_use_id, content, is_error?}`` (results arrive in ``user``
entries). Format: ``shared/docs/gastown-formats.md`` §4 (Claude Code transcripts).

- :func:`parse_session` rebuilds requests (user text) -> steps (assistant text + tool calls,
  then their results).
- :func:`session_outcome` decides ``success`` / ``failed`` / ``escalated`` / ``deferred`` /
  ``incomplete`` from the transcript alone, with the failure modes seen (:data:`FAILURE_MODES`).
- :func:`transcript_examples` turns the steps of successful sessions into windows of at most
  ``MAX_CALLS`` tool calls that share one task, in the OpenAI ``messages`` shape.

Usage::

    from node0_ops.corpus.examples_transcript import parse_session, session_outcome, transcript_examples
    outcome, modes = session_outcome(record)      # ("failed", ["force_push"])
    examples, skipped = transcript_examples(records)
"""

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from node0_ops.corpus.examples_common import (
    DEFAULT_TASK, actor_role, assistant, clip, command_task, role_card, role_from_path, split_command, system,
    tool, tool_call, user,
)
from node0_ops.corpus.schema import Example, Record

MAX_CALLS = 6           # tool calls per window
MAX_RESULT = 1500       # chars kept of a tool result
MAX_ARG = 4000          # chars kept of one tool-call string argument
MAX_REQUEST = 2000      # chars kept of the user request

FAILURE_MODES = ("pkill", "force_push", "no_verify", "wrong_branch", "raw_shell", "wrong_dep_direction",
                 "timeout", "broke_tests", "unrecovered_error")
PATROL_ROLES = ("witness", "deacon", "refinery")
TEST_CMD_RE = re.compile(r"\b(go test|pytest|npm (?:run )?test|pnpm (?:run )?test|yarn test|cargo test|make (?:test|check)"
                       r"|just test|tox|python -m pytest|go vet|golangci-lint)\b")
TEST_FAIL_RE = re.compile(r"^(?:FAIL|--- FAIL)|\b\d+ failed\b|\bFAILED\b|AssertionError|^panic:|Tests? failed", re.M)
TIMEOUT_RE = re.compile(r"timed out|timeout exceeded|deadline exceeded|stuck_threshold|session (?:killed|terminated) after", re.I)
_ID = r"[a-z][a-z0-9]*-[a-z0-9]+(?:\.[a-z0-9]+)*"
_DEP_REQ = [
    (re.compile(rf"\b({_ID})\b[^.\n]*?\b(?:depends on|needs|is blocked by|requires|cannot start until|can't start until)\s+`?({_ID})\b", re.I), False),
    (re.compile(rf"\b({_ID})\b[^.\n]*?\b(?:blocks|must land before|must be done before|has to land before|comes before|must finish before)\s+`?({_ID})\b", re.I), True),
]
# a bead's own description: "Must land before X" (X needs this bead) / "Depends on X" (this bead needs X)
_DEP_SELF = [
    (re.compile(rf"\b(?:must|has to|should) (?:land|be done|be merged|finish) before\s+`?({_ID})\b", re.I), True),
    (re.compile(rf"\b(?:depends on|needs|is blocked by|blocked by|requires|after)\s+`?({_ID})\b", re.I), False),
]
_CREATED = re.compile(rf"Created issue:\s*({_ID})")


@dataclass
class Step:
    """One assistant turn: its message (OpenAI shape) and the tool messages answering its calls."""

    message: dict
    results: list[dict] = field(default_factory=list)
    errors: list[bool] = field(default_factory=list)

    def commands(self) -> list[str]:
        out = []
        for call in self.message.get("tool_calls") or []:
            try:
                args = json.loads(call["function"]["arguments"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            if isinstance(args, dict) and isinstance(args.get("command"), str):
                out.append(args["command"])
        return out


@dataclass
class Request:
    """A user message and the assistant steps that followed it."""

    text: str
    steps: list[Step] = field(default_factory=list)


@dataclass
class Session:
    """A parsed transcript."""

    record: Record
    role: str | None
    rig: str | None
    requests: list[Request]
    unanswered_calls: int = 0

    def steps(self):
        for ri, req in enumerate(self.requests):
            for si, st in enumerate(req.steps):
                yield ri, si, st


def _result_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content)
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _clip_args(inp) -> dict:
    if not isinstance(inp, dict):
        return {"input": inp}
    return {k: clip(v, MAX_ARG) if isinstance(v, str) else v for k, v in inp.items()}


_NUDGE_LINE = re.compile(r"\[GAS TOWN\]\s+(\S+)\s+<-")


def session_role(rec: Record) -> tuple[str | None, str | None]:
    """``(role, rig)`` of a transcript: provenance first, then the session cwd, then the file path,
    then the recipient of the startup nudge line ``[GAS TOWN] <recipient> <- <sender> ...``
    (formats doc §4; the deacon's cwd is the town root, which names no role)."""
    p = rec.payload if isinstance(rec.payload, dict) else {}
    role, rig = rec.provenance.role, rec.provenance.rig
    if not role:
        role, rig2 = role_from_path(p.get("cwd"))
        if not role:
            role, rig2 = role_from_path(rec.provenance.path)
        if not role:
            role, rig2 = _nudge_recipient_role(p.get("entries"))
        rig = rig or rig2
    return role, rig


def _nudge_recipient_role(entries) -> tuple[str | None, str | None]:
    for e in (entries or [])[:5]:
        blocks = e.get("content") if isinstance(e, dict) else None
        for b in blocks if isinstance(blocks, list) else []:
            m = _NUDGE_LINE.search(str(b.get("text") or "")) if isinstance(b, dict) else None
            if m:
                return actor_role(m.group(1))
    return None, None


def parse_session(rec: Record) -> Session:
    """Rebuild requests and steps from a transcript record.

    Consecutive assistant entries merge into one step until a tool result arrives; a user
    entry with text starts a new request. Thinking blocks are dropped.

    Raises:
        ValueError: the payload has no ``entries`` list (message names the record).
    """
    p = rec.payload if isinstance(rec.payload, dict) else {}
    entries = p.get("entries")
    if not isinstance(entries, list):
        raise ValueError(f"transcript record {rec.record_id} ({rec.provenance.path}): payload has no entries list")
    role, rig = session_role(rec)
    requests: list[Request] = []
    cur_step: Step | None = None
    calls_open: dict[str, Step] = {}
    for e in entries:
        if not isinstance(e, dict) or e.get("is_sidechain"):
            continue          # subagent (sidechain) turns belong to another conversation
        blocks = e.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        if not isinstance(blocks, list):
            continue
        etype = e.get("role") or e.get("type")
        if etype == "assistant":
            texts = [b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
            calls = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
            if not texts and not calls:
                continue
            if not requests:
                requests.append(Request(""))
            if cur_step is None or cur_step.results:
                cur_step = Step(assistant(""))
                requests[-1].steps.append(cur_step)
            msg = cur_step.message
            text = "\n".join(t for t in texts if t.strip())
            if text:
                msg["content"] = (msg["content"] + "\n" + text).strip()
            for b in calls:
                cid = str(b.get("id") or f"call_{len(calls_open)}")
                msg.setdefault("tool_calls", []).append(tool_call(cid, str(b.get("name") or "tool"), _clip_args(b.get("input"))))
                calls_open[cid] = cur_step
        elif etype == "user":
            results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
            texts = [b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
            for b in results:
                cid = str(b.get("tool_use_id") or "")
                step = calls_open.pop(cid, None)
                if step is None:
                    continue
                text = _result_text(b.get("content"))
                step.results.append(tool(cid, clip(text, MAX_RESULT)))
                step.errors.append(bool(b.get("is_error")))
            text = "\n".join(t for t in texts if t.strip())
            if text and not results:
                requests.append(Request(clip(text, MAX_REQUEST)))
                cur_step = None
    return Session(rec, role, rig, requests, unanswered_calls=len(calls_open))


# ---- outcome ----------------------------------------------------------------

def command_failure_modes(cmd: str, role: str | None) -> list[str]:
    """Failure modes one shell command commits by itself (convention violations).

    ``pkill``: pkill/killall/``tmux kill-session|kill-server``; ``force_push``: ``git push -f``,
    ``--force``, ``--force-with-lease`` or a ``+refspec``; ``no_verify``: ``--no-verify`` on commit
    or push (``git commit -n``); ``wrong_branch``: a polecat pushing to main/master;
    ``raw_shell``: reading/writing beads storage directly (sqlite3/``dolt sql``/``.beads/*.jsonl``)
    or typing into agent sessions with ``tmux send-keys``.
    """
    modes = []
    for argv in split_command(cmd):
        while argv and re.fullmatch(r"\w+=.*", argv[0]):
            argv = argv[1:]
        if argv and argv[0] in ("sudo", "env", "command"):
            argv = argv[1:]
        if not argv:
            continue
        prog = argv[0].rsplit("/", 1)[-1]
        if prog in ("pkill", "killall") or (prog == "tmux" and len(argv) > 1 and argv[1] in ("kill-session", "kill-server")):
            modes.append("pkill")
        if prog == "tmux" and len(argv) > 1 and argv[1] in ("send-keys", "send"):
            modes.append("raw_shell")
        if prog in ("sqlite3", "sqlite") or (prog == "dolt" and "sql" in argv[1:3]) or \
                (prog in ("cat", "grep", "jq", "sed", "head", "tail", "vi", "vim") and any(".beads/" in a for a in argv)):
            modes.append("raw_shell")
        if prog == "git" and len(argv) > 1:
            sub, rest = argv[1], argv[2:]
            if sub == "push":
                if any(a in ("-f", "--force") or a.startswith("--force-with-lease") for a in rest) or \
                        any(a.startswith("+") for a in rest):
                    modes.append("force_push")
                if "--no-verify" in rest:
                    modes.append("no_verify")
                targets = [a.split(":")[-1] for a in rest if not a.startswith("-")][1:]
                if role == "polecat" and any(t.lstrip("+") in ("main", "master", "refs/heads/main") for t in targets):
                    modes.append("wrong_branch")
            if sub == "commit" and ("--no-verify" in rest or "-n" in rest):
                modes.append("no_verify")
    return sorted(set(modes))


def expected_deps(text: str) -> set[tuple[str, str]]:
    """``(issue, depends_on)`` pairs a request states in words ("A needs B", "B must land before A")."""
    out = set()
    for pat, swap in _DEP_REQ:
        for m in pat.finditer(text or ""):
            a, b = m.group(1), m.group(2)
            out.add((b, a) if swap else (a, b))
    return out


def _dep_adds(cmd: str) -> list[tuple[str, str]]:
    out = []
    for argv in split_command(cmd):
        if argv[:3] == ["bd", "dep", "add"]:
            pos = [a for a in argv[3:] if not a.startswith("-")]
            if len(pos) >= 2:
                out.append((pos[0], pos[1]))
    return out


def _create_description(cmd: str) -> str:
    for argv in split_command(cmd):
        if argv[:2] == ["bd", "create"]:
            for i, a in enumerate(argv):
                if a in ("-d", "--description") and i + 1 < len(argv):
                    return argv[i + 1]
                if a.startswith("--description="):
                    return a.split("=", 1)[1]
    return ""


def offending_calls(sess: Session) -> list[tuple[int, int, str, str]]:
    """``(request_idx, step_idx, command, failure_mode)`` for every convention-violating command.

    ``wrong_dep_direction``: a ``bd dep add A B`` whose reverse the session stated before it ran,
    in a request ("B needs A"), in ``bd show`` output, or in the description of a bead created in
    the session ("Must land before A" on B); later output (``bd dep``'s own echo) never counts.
    """
    out, want = [], set()
    for ri, si, st in sess.steps():
        if si == 0:
            want |= expected_deps(sess.requests[ri].text)
        for cmd, res in zip(st.commands(), st.results + [None] * len(st.commands())):
            for mode in command_failure_modes(cmd, sess.role):
                out.append((ri, si, cmd, mode))
            for a, b in _dep_adds(cmd):
                if (b, a) in want and (a, b) not in want:
                    out.append((ri, si, cmd, "wrong_dep_direction"))
            content = (res or {}).get("content") or ""
            if any(argv[:2] == ["bd", "show"] for argv in split_command(cmd)):
                want |= expected_deps(content)
            created = _CREATED.search(content)
            desc = _create_description(cmd)
            if created and desc:
                me = created.group(1)
                for pat, they_need_me in _DEP_SELF:
                    for m in pat.finditer(desc):
                        want.add((m.group(1), me) if they_need_me else (me, m.group(1)))
    return out


def is_timeout(content: str, err: bool) -> bool:
    """A tool result saying the session's own command timed out: flagged as an error, with the
    timeout message in its first line (quoted output of *other* sessions, e.g. ``gt peek``, is
    not the session's own timeout)."""
    first = (content or "").lstrip().split("\n", 1)[0]
    return bool(err) and bool(TIMEOUT_RE.search(first))


def _gt_done_status(cmd: str) -> str | None:
    for argv in split_command(cmd):
        if argv[:2] == ["gt", "done"]:
            status = "COMPLETED"
            for i, a in enumerate(argv):
                if a == "--status" and i + 1 < len(argv):
                    status = argv[i + 1].upper()
                elif a.startswith("--status="):
                    status = a.split("=", 1)[1].upper()
            return status
    return None


def session_outcome(rec: Record | Session) -> tuple[str, list[str]]:
    """Outcome of a transcript, judged from the transcript alone.

    Returns:
        ``(outcome, failure_modes)``. ``outcome`` is ``failed`` when any failure mode is seen
        (:data:`FAILURE_MODES`: forbidden commands, a wrong ``bd dep add`` direction against the
        request's wording, timeouts, a failing last test run, or a final tool error); else
        ``escalated`` / ``deferred`` for ``gt done --status ESCALATED|DEFERRED`` (or ``gt escalate``
        as a polecat's last command); else ``success`` when the work was closed out (``gt done``
        [COMPLETED] for polecats, ``gt patrol report`` / ``gt handoff`` for patrol roles) or the role
        has no closing command (mayor, crew, dog, boot) and the session ended cleanly; else
        ``incomplete``.
    """
    sess = rec if isinstance(rec, Session) else parse_session(rec)
    modes = {m for *_, m in offending_calls(sess)}
    last_status, done_at, last_test, last_cmd = None, -1, None, None
    order = 0
    results_seen = []
    for _, _, st in sess.steps():
        for cmd in st.commands():
            order += 1
            last_cmd = cmd
            status = _gt_done_status(cmd)
            if status:
                last_status, done_at = status, order
            if any(a[:3] in (["gt", "patrol", "report"],) or a[:2] == ["gt", "handoff"] for a in split_command(cmd)):
                last_status, done_at = last_status or "PATROL_DONE", order
        calls = st.message.get("tool_calls") or []
        for call, res, err in zip(calls, st.results, st.errors):
            results_seen.append((res["content"], err))
        for cmd, res, err in zip(st.commands(), st.results, st.errors):
            if TEST_CMD_RE.search(cmd):
                last_test = (cmd, res["content"], err)
    for content, err in results_seen:
        if is_timeout(content, err):
            modes.add("timeout")
    if sess.unanswered_calls and not last_status:
        modes.add("timeout")
    if last_test is not None:
        _, content, err = last_test
        if (err or TEST_FAIL_RE.search(content or "")) and not is_timeout(content, err):
            modes.add("broke_tests")      # a run that timed out is a timeout, not a test failure
    if results_seen and results_seen[-1][1] and not last_status and not modes:
        modes.add("unrecovered_error")
    if modes:
        return "failed", sorted(modes)
    if last_status in ("ESCALATED", "DEFERRED"):
        return last_status.lower(), []
    if sess.role == "polecat" and last_cmd and any(a[:2] == ["gt", "escalate"] for a in split_command(last_cmd)):
        return "escalated", []
    if last_status in ("COMPLETED", "PATROL_DONE"):
        return "success", []
    if sess.role in ("polecat",) + PATROL_ROLES or not sess.role or not any(True for _ in sess.steps()):
        return "incomplete", []
    return "success", []


# ---- windows ------------------------------------------------------------------

def step_task(step: Step) -> str | None:
    """Majority task of a step's commands (None when only generic commands or none)."""
    tasks = [t for t in (command_task(c) for c in step.commands()) if t]
    return Counter(tasks).most_common(1)[0][0] if tasks else None


def progress_lines(step: Step) -> list[str]:
    """One markdown line per command of ``step``: ``- `cmd` -> ok|error: <first line of output>``."""
    out = []
    for cmd, res, err in zip(step.commands(), step.results, step.errors):
        first = (res.get("content") or "").strip().splitlines()
        status = "error" if err else "ok"
        out.append(f"- `{clip(cmd, 200)}` -> {status}" + (f": {clip(first[0], 120)}" if first else ""))
    return out


def windows(req: Request, role: str) -> list[tuple[str, list[Step]]]:
    """Split a request's steps into ``(task, steps)`` windows of one task and <= MAX_CALLS calls."""
    out: list[tuple[str | None, list[Step]]] = []
    review = bool(re.search(r"\breview\b", req.text, re.I))
    for st in req.steps:
        t = step_task(st)
        if review and t in (None, "git-workflow"):
            t = "code-review"
        n_calls = len(st.message.get("tool_calls") or [])
        if out:
            cur_t, cur = out[-1]
            cur_calls = sum(len(s.message.get("tool_calls") or []) for s in cur)
            same = t is None or cur_t is None or t == cur_t
            if same and cur_calls + n_calls <= MAX_CALLS:
                cur.append(st)
                out[-1] = (cur_t or t, cur)
                continue
        out.append((t, [st]))
    return [(t or DEFAULT_TASK[role], sts) for t, sts in out]


def _window_messages(sess: Session, req: Request, before: list[Step], steps: list[Step]) -> list[dict]:
    ask = req.text or "Continue with the work on your hook."
    if before:
        lines = [ln for st in before for ln in progress_lines(st)][-8:]
        if lines:
            ask += "\n\nProgress so far:\n" + "\n".join(lines)
    msgs = [system(role_card(sess.role, sess.rig)), user(ask)]
    for i, st in enumerate(steps):
        msgs.append(st.message)
        answered = {r["tool_call_id"] for r in st.results}
        results = list(st.results)
        for call in st.message.get("tool_calls") or []:
            if call["id"] not in answered:
                results.append(tool(call["id"], "[no result recorded]"))
        if i < len(steps) - 1:
            msgs += results
    return msgs


def transcript_examples(records: Sequence[Record]) -> tuple[list[Example], list[tuple[str, str]]]:
    """Chat examples from the steps of *successful* transcript sessions.

    Returns:
        ``(examples, skipped)``; ``skipped`` holds ``(record_id, reason)``, e.g.
        ``"outcome failed: force_push"``, ``"unknown role"``, ``"no assistant steps"``.
    """
    out, skipped = [], []
    for rec in records:
        if rec.kind != "transcript":
            continue
        try:
            sess = parse_session(rec)
        except ValueError as exc:
            skipped.append((rec.record_id, str(exc)))
            continue
        if sess.role is None:
            skipped.append((rec.record_id, "unknown role (no provenance role, cwd or path match)"))
            continue
        outcome, modes = session_outcome(sess)
        if outcome != "success":
            skipped.append((rec.record_id, f"outcome {outcome}" + (f": {', '.join(modes)}" if modes else "")))
            continue
        made = 0
        for ri, req in enumerate(sess.requests):
            done: list[Step] = []
            for wi, (task, steps) in enumerate(windows(req, sess.role)):
                msgs = _window_messages(sess, req, done, steps)
                done += steps
                out.append(Example(kind="chat", role=sess.role, task=task, origin="transcript",
                                   source_key=rec.source_key, record_ids=[rec.record_id], messages=msgs,
                                   meta={"generator": "window", "request": ri, "window": wi,
                                         "session_id": rec.payload.get("session_id")}))
                made += 1
        if not made:
            skipped.append((rec.record_id, "no assistant steps"))
    return out, skipped
