"""The ``node0>`` terminal agent that a town's ``node0-<role>`` agent entry starts inside tmux.

Loop: print the prompt, read a line (typed, or pushed by Gas Town with ``tmux send-keys`` /
``gt nudge``), build the role's compact context for that line (:mod:`.prime`), ask the model;
when the answer proposes shell commands (:func:`node0_ops.serve.prompting.extract_tool_calls`),
check each with the :class:`~node0_ops.serve.policy.CommandPolicy`, run the allowed ones in the
work tree (``bash -c``, own process group, timeout), print and log every command and its result
(refusals included) and feed the outputs back as ``tool`` messages; repeat until an answer has
no commands or ``max_steps`` model calls. EOF (Ctrl-D) or ``/exit`` ends the session with exit
status 0. Every turn is appended to a Claude-Code-style transcript (:mod:`.transcript`).

Slash commands: ``/exit`` ``/quit``, ``/reset`` (forget the conversation), ``/context`` (print the
context of the last turn), ``/help``.

Prime: Gas Town's nudges and its startup fallback for agents without hooks ask for ``gt prime``,
whose full output (role template, town and rig CLAUDE.md: 2-12k tokens) would fill a small model's
window. With ``prime="compact"`` (the default, and what a deployed ``node0-<role>`` entry asks for with
``--prime compact``) a proposed ``gt prime`` is not run: the agent answers it with a note that the
compact prime (``node0-inference prime --role ROLE``: role card, directives, retrieved town context)
is the system context already. ``prime="full"`` runs it like any other command.

Usage::

    agent = TerminalAgent(EchoScriptBackend(["$ gt hook"]), AgentConfig(role="polecat", use_rag=False),
                          context_for=lambda q: "You are a polecat.")
    agent.run(sys.stdin)
"""

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from node0_ops.evals.shell import split_commands
from node0_ops.serve.agent_config import AgentConfig
from node0_ops.serve.backends import ContextTooLong
from node0_ops.serve.policy import CommandPolicy
from node0_ops.serve.prompting import ToolCall, extract_tool_calls, openai_tool_calls
from node0_ops.serve.transcript import TranscriptWriter

INSTRUCTIONS = (
    "You work in a terminal at {cwd}. To run shell commands, answer with a ```bash block (one command per "
    "line) or <tool_call>{{\"name\": \"bash\", \"arguments\": {{\"command\": \"...\"}}}}</tool_call>; their output "
    "comes back to you. Use gt and bd for Gas Town work. When the task is done, answer without commands."
)
HELP = "commands: /exit (or Ctrl-D) end the session, /reset forget the conversation, /context show the context"
PRIME_COMMAND = "node0-inference prime --role {role}"


@dataclass
class CommandResult:
    """A command the agent handled: ``allowed`` False means refused (``output`` holds the reason)."""

    command: str
    allowed: bool
    output: str
    exit_code: int | None
    is_error: bool


def is_prime_command(command: str) -> bool:
    """True for one simple ``gt prime [flags]`` command (no chain, pipe or redirect)."""
    segs = split_commands(command)
    return len(segs) == 1 and segs[0].argv[:2] == ["gt", "prime"] and not segs[0].redirects


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return text[:head] + f"\n... [{len(text) - limit} characters cut] ...\n" + text[-(limit - head):]


def run_command(command: str, cwd: str, timeout_s: float, max_chars: int) -> tuple[str, int | None]:
    """Run ``bash -c command`` in ``cwd`` (stdin closed, stderr into stdout, own process group).

    Returns ``(output clipped to max_chars, exit code or None on timeout)``; on timeout the process
    group this call started is killed.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "PAGER": "cat", "GIT_PAGER": "cat", "TERM": "dumb"}
    proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # the group exited between the timeout and the kill
            pass
        out, _ = proc.communicate()
        out += f"\n[timed out after {timeout_s:g} s; process group killed]".encode()
        code = None
    return _clip(out.decode("utf-8", errors="replace"), max_chars), code


class TerminalAgent:
    """The loop of the module docstring.

    Args:
        backend: ``complete(messages) -> Reply`` (:mod:`.backends`).
        config: :class:`AgentConfig`.
        context_for: ``query -> system text`` (the role's compact context); the instructions are appended.
        transcript: where to log (None: no transcript).
        out: where to print (default stdout).
    """

    def __init__(self, backend, config: AgentConfig, *, context_for, transcript: TranscriptWriter | None = None,
                 out=None, pick_stack=None):
        self.backend, self.config, self.context_for = backend, config, context_for
        self.pick_stack = pick_stack  # text -> (stack, why) | None: adapter stack from a slung bead
        self.policy = CommandPolicy(config.work_tree, config.extra_allowed)
        self.transcript = transcript
        self.out = out or sys.stdout
        self.history: list[dict] = []
        self.last_context = ""
        self.commands: list[CommandResult] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _system(self, query: str) -> dict:
        ctx = self.context_for(query)
        self.last_context = ctx
        return {"role": "system", "content": ctx + "\n\n" + INSTRUCTIONS.format(cwd=self.config.work_tree)}

    def _complete(self, system: dict, user_msg: dict):
        """Ask the model; on context overflow drop the oldest earlier turns (never this one) and retry."""
        while True:
            try:
                return self.backend.complete([system] + self.history)
            except ContextTooLong:
                start = next(i for i, m in enumerate(self.history) if m is user_msg)
                if start == 0:
                    raise
                cut = next((i for i in range(1, start + 1) if self.history[i]["role"] == "user"), start)
                del self.history[:cut]

    def _compact_prime(self, command: str) -> CommandResult:
        """Answer a ``gt prime`` with the compact prime (module docstring, "Prime")."""
        from node0_ops.serve.tokens import count_tokens

        context = self.last_context or self.context_for("")
        try:
            size = f"{count_tokens(context)} tokens"
        except FileNotFoundError:  # no tokenizer of the base model installed
            size = f"{len(context.encode())} bytes"
        prime = PRIME_COMMAND.format(role=self.config.role)
        self.say(f"  [prime] compact: {prime} ({size}) is the context; the full gt prime is not loaded")
        note = (f"[node0] `{command}` was not run: this agent is primed with the compact prime ({prime}: role card, "
                f"directives and the town context retrieved for each turn; {size}), already in your system context. "
                "Go on with your work (gt hook, gt mail inbox).")
        return CommandResult(command, True, note, 0, False)

    def handle_command(self, call: ToolCall) -> CommandResult:
        """Check, run, print and log one proposed command (a ``gt prime`` under ``prime="compact"``
        is answered, not run)."""
        if call.command is None:
            res = CommandResult(call.name, False, f"error: {call.error}", None, True)
            self.say(f"  ! {call.error}")
        elif self.config.prime == "compact" and is_prime_command(call.command):
            self.say(f"$ {call.command}")
            res = self._compact_prime(call.command)
        else:
            self.say(f"$ {call.command}")
            decision = self.policy.check(call.command)
            if not decision.allowed:
                res = CommandResult(call.command, False, decision.message, None, True)
                self.say(f"  ! {decision.message}")
            else:
                output, code = run_command(call.command, self.config.work_tree, self.config.command_timeout_s,
                                           self.config.output_chars)
                res = CommandResult(call.command, True, output, code, code != 0)
                lines = output.rstrip("\n").splitlines()
                for line in lines[:20]:
                    self.say(f"  {line}")
                if len(lines) > 20:
                    self.say(f"  ... ({len(lines) - 20} more lines)")
                self.say(f"  [exit {code if code is not None else 'timeout'}]")
        self.commands.append(res)
        if self.transcript:
            self.transcript.tool_result(call.id, res.output, is_error=res.is_error)
        return res

    def _switch_stack(self, text: str) -> None:
        """Switch the live adapter stack when ``text`` names a bead whose type/labels map to task adapters
        (:mod:`node0_ops.registry.adapter_select`); the choice is printed and logged in the transcript."""
        if self.pick_stack is None or not hasattr(self.backend, "stack"):
            return
        picked = self.pick_stack(text)
        if picked is None:
            return
        stack, why = picked
        if tuple(stack) != tuple(self.backend.stack):
            self.backend.stack = tuple(stack)
            line = f"[adapters] {why}: stack {', '.join(n for n, _ in stack) or '(none)'}"
            self.say(f"  {line}")
            if self.transcript:
                self.transcript.system_note(line)

    def turn(self, text: str) -> str:
        """One user turn (a line); returns the model's last answer text."""
        if self.transcript:
            self.transcript.user_text(text)
        self._switch_stack(text)
        user_msg = {"role": "user", "content": text}
        self.history.append(user_msg)
        system = self._system(text)
        answer = ""
        for _ in range(self.config.max_steps):
            try:
                reply = self._complete(system, user_msg)
            except ContextTooLong as exc:
                self.say(f"  ! {exc}")
                return answer
            calls, prose = extract_tool_calls(reply.text)
            answer = prose
            if prose:
                self.say(prose)
            structured = bool(calls) and calls[0].source in ("hermes", "openai")
            msg: dict = {"role": "assistant", "content": prose if structured else reply.text}
            if structured and (shell := openai_tool_calls(calls)):
                msg["tool_calls"] = shell  # rendered back as <tool_call> blocks, as in training
            self.history.append(msg)
            if self.transcript:
                self.transcript.assistant(prose, [(c.id, c.command, c.name) for c in calls], reply.usage)
            if not calls:
                return answer
            for call in calls:
                res = self.handle_command(call)
                self.history.append({"role": "tool", "tool_call_id": call.id, "content": res.output})
        self.say(f"  ! step limit reached ({self.config.max_steps} model calls); waiting for input")
        return answer

    def run(self, stdin=None, initial: str | None = None) -> int:
        """Read lines until EOF or ``/exit``; returns the exit status (0)."""
        stdin = stdin or sys.stdin
        if initial:
            self.turn(initial)
        while True:
            print(self.config.prompt, end="", file=self.out, flush=True)
            line = stdin.readline()
            if not line:
                self.say()
                self.say("bye (end of input)")
                return 0
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                self.say("bye")
                return 0
            if text == "/help":
                self.say(HELP)
            elif text == "/reset":
                self.history.clear()
                self.say("conversation cleared")
            elif text == "/context":
                self.say(self.last_context or self.context_for(""))
            else:
                try:
                    self.turn(text)
                except KeyboardInterrupt:
                    self.say("  ! interrupted")
