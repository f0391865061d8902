"""The chat template is one string, identical at train and serve time."""

import importlib.util
import json

import pytest

from node0_ops.train.chat_template import chat_template, normalize_messages, render, template_sha256

TOOL_CHAT = [
    {"role": "system", "content": "You are the Gas Town polecat."},
    {"role": "user", "content": "Claim gt-abc."},
    {"role": "assistant", "content": "Claiming.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": {"command": "bd update gt-abc --claim"}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "Updated gt-abc"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c2", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"gt done\"}"}}]},
]


def test_plain_messages_render_like_the_base_template(tokenizer):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    for gen in (False, True):
        assert render(msgs, gen) == tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        with_sys = [{"role": "system", "content": "S"}] + msgs
        assert render(with_sys, gen) == tokenizer.apply_chat_template(with_sys, tokenize=False, add_generation_prompt=gen)


def test_tool_calls_render_as_hermes_blocks():
    text = render(normalize_messages(TOOL_CHAT), add_generation_prompt=True)
    assert '<tool_call>\n{"name": "bash", "arguments": {"command": "bd update gt-abc --claim"}}\n</tool_call><|im_end|>' in text
    assert '<|im_start|>assistant\n<tool_call>\n{"name": "bash", "arguments": {"command": "gt done"}}' in text
    assert "<|im_start|>tool\nUpdated gt-abc<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_saved_adapter_template_is_the_training_template(tmp_path, tiny_cfg, chat_rows):
    """Train/serve identity: the adapter stores the exact string; rendering with it through the
    tokenizer (transformers' engine) and llama-cpp-python's Jinja formatter (when installed)
    gives the training text byte for byte."""
    from transformers import AutoTokenizer

    from node0_ops.train.api import train_role_adapter

    res = train_role_adapter(tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 1}), chat_rows[:4], None,
                             tmp_path / "adapter", run_meta={"role": "polecat", "state": str(tmp_path / "s")})
    saved = (tmp_path / "adapter" / "chat_template.jinja").read_text()
    meta = json.loads((tmp_path / "adapter" / "gastown_adapter.json").read_text())
    assert saved == chat_template() == meta["chat_template"]
    assert meta["chat_template_sha256"] == template_sha256()
    msgs = normalize_messages(TOOL_CHAT)
    train_text = render(msgs, add_generation_prompt=True)
    tok = AutoTokenizer.from_pretrained(tiny_cfg.base)
    assert tok.apply_chat_template(msgs, chat_template=saved, tokenize=False, add_generation_prompt=True) == train_text
    if importlib.util.find_spec("llama_cpp") is not None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        fmt = Jinja2ChatFormatter(template=saved, eos_token="<|im_end|>", bos_token="<|im_start|>")
        assert fmt(messages=msgs).prompt == train_text


def test_normalize_rejects_bad_messages():
    with pytest.raises(ValueError, match="no role"):
        normalize_messages([{"content": "x"}])
    with pytest.raises(ValueError, match="without a function name"):
        normalize_messages([{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}])
