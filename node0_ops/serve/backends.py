"""Model backends for the terminal agent: one ``complete(messages) -> Reply`` interface.

- :class:`LlamaBackend`: the GGUF in this process (:class:`~node0_ops.serve.engine.LlamaEngine`),
  greedy by default, with the ``--adapters`` stack.
- :class:`HttpBackend`: a running ``node0-inference serve`` (or any OpenAI-compatible server)
  through the ``openai`` package.
- :class:`EchoScriptBackend` (``--backend echo-script``): replays scripted replies in order (a JSON
  list of strings, or a text file with replies separated by lines holding only ``---``), then echoes
  the user's last message. Deterministic; for tests and demos without a model.

Usage::

    backend = EchoScriptBackend.from_file("replies.json")
    reply = backend.complete([{"role": "user", "content": "hi"}])
    reply.text
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Reply:
    """Model output: ``text`` and OpenAI-style ``usage`` (may be empty)."""

    text: str
    usage: dict = field(default_factory=dict)


class ContextTooLong(ValueError):
    """The messages do not fit the model's context window (the agent drops old turns and retries)."""


class LlamaBackend:
    """In-process llama.cpp model (see :class:`~node0_ops.serve.engine.LlamaEngine`)."""

    def __init__(self, engine, *, stack=None, max_tokens: int = 256, temperature: float = 0.0):
        self.engine, self.max_tokens, self.temperature = engine, max_tokens, temperature
        self.stack = engine.spec.default_stack if stack is None else stack
        self.name = engine.spec.stack_id(self.stack)

    def complete(self, messages: list[dict]) -> Reply:
        from node0_ops.serve.engine import RequestError

        try:
            res = self.engine.chat(messages, stack=self.stack, max_tokens=self.max_tokens, temperature=self.temperature)
        except RequestError as exc:
            if exc.code == "context_length_exceeded":
                raise ContextTooLong(str(exc)) from exc
            raise
        return Reply(res.text, res.usage)

    def close(self) -> None:
        self.engine.close()


class HttpBackend:
    """An OpenAI-compatible server (``base_url`` like ``http://127.0.0.1:8000/v1``)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_tokens: int = 256,
                 temperature: float = 0.0, timeout_s: float = 600.0):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url.rstrip("/"), api_key=api_key or os.environ.get("NODE0_API_KEY") or "none",
                             timeout=timeout_s, max_retries=0)
        self.name, self.max_tokens, self.temperature = model, max_tokens, temperature

    def complete(self, messages: list[dict]) -> Reply:
        import openai

        try:
            res = self.client.chat.completions.create(model=self.name, messages=messages, max_tokens=self.max_tokens,
                                                      temperature=self.temperature)
        except openai.BadRequestError as exc:
            if "context_length_exceeded" in str(exc):
                raise ContextTooLong(str(exc)) from exc
            raise
        msg = res.choices[0].message
        text = msg.content or ""
        for call in msg.tool_calls or []:  # the server turned <tool_call> blocks into tool_calls: restore them
            text += f'\n<tool_call>\n{{"name": "{call.function.name}", "arguments": {call.function.arguments}}}\n</tool_call>'
        return Reply(text, res.usage.model_dump() if res.usage else {})

    def close(self) -> None:
        self.client.close()


class EchoScriptBackend:
    """Scripted replies, then an echo of the last user message (module docstring)."""

    name = "echo-script"

    def __init__(self, replies: list[str] | None = None):
        self.replies = list(replies or [])
        self.calls = 0

    @classmethod
    def from_file(cls, path: str | os.PathLike | None) -> "EchoScriptBackend":
        """Read a script (JSON list of strings, or ``---``-separated text); None = echo only.

        Raises:
            FileNotFoundError: missing file.  ValueError: JSON that is not a list of strings.
        """
        if path is None:
            return cls([])
        text = Path(path).read_text(encoding="utf-8")
        if text.lstrip().startswith(("[", "{")):
            data = json.loads(text)
            if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
                raise ValueError(f"{path}: an echo script in JSON must be a list of strings (one reply each)")
            return cls(data)
        parts, cur = [], []
        for line in text.splitlines():
            if line.strip() == "---":
                parts.append("\n".join(cur).strip())
                cur = []
            else:
                cur.append(line)
        if "\n".join(cur).strip():
            parts.append("\n".join(cur).strip())
        return cls(parts)

    def complete(self, messages: list[dict]) -> Reply:
        self.calls += 1
        if self.replies:
            return Reply(self.replies.pop(0))
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        return Reply(f"echo: {last}")

    def close(self) -> None:
        pass
