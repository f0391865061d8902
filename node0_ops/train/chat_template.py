"""The one chat template used to train every adapter and to serve it.

ChatML (``<|im_start|>role\\n...<|im_end|>\\n``) exactly as SmolLM2-Instruct's own template
for plain messages (same default system prompt when none is given), extended with OpenAI-style
assistant ``tool_calls``, rendered Hermes-style as
``<tool_call>\\n{"name": "...", "arguments": {...}}\\n</tool_call>`` after the content, and
``tool`` result turns. The template only concatenates strings (no ``tojson``) so Jinja engines
agree byte for byte; :func:`normalize_messages` turns dict ``arguments`` into JSON text first.

The string is saved with every adapter (``gastown_adapter.json`` and ``chat_template.jinja``) and
the serving side must render prompts with :func:`render` (or the saved string) after
:func:`normalize_messages`.

Usage::

    from node0_ops.train.chat_template import chat_template, render, normalize_messages
    text = render(normalize_messages(messages), add_generation_prompt=True)
"""

import hashlib
import json
from functools import lru_cache

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n' }}"
    "{%- endif %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{{- '<|im_start|>' + message['role'] + '\n' + content }}"
    "{%- if message['tool_calls'] %}"
    "{%- for call in message['tool_calls'] %}"
    "{%- set fn = call['function'] if call['function'] is defined else call %}"
    "{%- if content or not loop.first %}{{- '\n' }}{%- endif %}"
    "{{- '<tool_call>\n{\"name\": \"' + fn['name'] + '\", \"arguments\": ' + fn['arguments'] + '}\n</tool_call>' }}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)

#: Token that ends every turn (the model's stop token at serve time).
END_OF_TURN = "<|im_end|>"


def chat_template() -> str:
    """The Jinja chat template string (identical at train and serve time)."""
    return _TEMPLATE


def template_sha256() -> str:
    """Hex sha256 of :func:`chat_template` (recorded in adapter metadata)."""
    return hashlib.sha256(_TEMPLATE.encode()).hexdigest()


def normalize_messages(messages: list[dict]) -> list[dict]:
    """Copy OpenAI-shape messages into the form the template expects.

    ``content`` None becomes ``""``; list content (``[{"type": "text", "text": ...}]``) is joined;
    tool-call ``arguments`` given as dicts become compact JSON text (``json.dumps``, non-ASCII kept).

    Raises:
        ValueError: a message without a string ``role`` or a tool call without a function name.
    """
    out = []
    for i, m in enumerate(messages):
        role = m.get("role")
        if not isinstance(role, str) or not role:
            raise ValueError(f"message {i} has no role: {str(m)[:120]}")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        msg = {"role": role, "content": "" if content is None else str(content)}
        calls = []
        for call in m.get("tool_calls") or []:
            fn = call.get("function", call)
            if not fn.get("name"):
                raise ValueError(f"message {i}: tool call without a function name: {str(call)[:120]}")
            args = fn.get("arguments", "{}")
            if not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False)
            calls.append({"id": call.get("id", ""), "type": "function",
                          "function": {"name": fn["name"], "arguments": args}})
        if calls:
            msg["tool_calls"] = calls
        out.append(msg)
    return out


@lru_cache(maxsize=1)
def _compiled():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(_TEMPLATE)


def render(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """Render normalized messages with the template (jinja2 sandbox, same settings as transformers)."""
    return _compiled().render(messages=messages, add_generation_prompt=add_generation_prompt)
