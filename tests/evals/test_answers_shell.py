"""Answer parsing (fences, $ lines, tool-call JSON, bare lines) and the shell splitter."""

import json

from node0_ops.evals.answers import commands_from_message, extract_code, extract_commands, extract_json
from node0_ops.evals.shell import split_commands, strip_wrappers


def test_fenced_block_and_prose():
    text = "First claim it:\n```bash\nbd update gt-abc12 --claim\nbd show gt-abc12\n```\nThen run `gt done`."
    cmds = extract_commands(text)
    assert cmds == ["bd update gt-abc12 --claim\nbd show gt-abc12", "gt done"]


def test_prompt_style_blocks_skip_output():
    text = "```console\n$ bd ready --json\n[{\"id\": \"gt-abc12\"}]\n$ bd update gt-abc12 --claim\nUpdated gt-abc12\n```"
    assert extract_commands(text) == ["bd ready --json", "bd update gt-abc12 --claim"]
    assert extract_commands("Run this:\n$ gt mail inbox\nthen read") == ["gt mail inbox"]


def test_continuation_lines_outside_fences():
    text = "bd create --type=bug \\\n  --priority=1 --title='x'"
    assert extract_commands(text) == ["bd create --type=bug    --priority=1 --title='x'"]


def test_tool_call_json_shapes():
    openai = json.dumps({"tool_calls": [{"type": "function", "function": {"name": "Bash",
                                                                          "arguments": json.dumps({"command": "bd close gt-1 -r ok"})}}]})
    anthropic = json.dumps({"type": "tool_use", "name": "Bash", "input": {"command": "gt done"}})
    simple = json.dumps({"tool": "bash", "command": "git push"})
    assert extract_commands(openai) == ["bd close gt-1 -r ok"]
    assert extract_commands(anthropic) == ["gt done"]
    assert extract_commands(simple) == ["git push"]
    assert extract_commands('{"action": "nudge", "reason": "idle"}') == []


def test_commands_from_message():
    msg = {"role": "assistant", "content": "Closing.",
           "tool_calls": [{"id": "1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "bd close gt-2"}'}}]}
    assert commands_from_message(msg) == ["bd close gt-2"]
    blocks = {"role": "assistant", "content": [{"type": "text", "text": "$ bd ready"},
                                               {"type": "tool_use", "name": "Bash", "input": {"command": "gt hook"}}]}
    assert commands_from_message(blocks) == ["bd ready", "gt hook"]


def test_untagged_json_fence_is_not_commands():
    assert extract_commands('```\n{"action": "nudge"}\n```') == []
    assert extract_commands("```python\nprint('x')\n```") == []


def test_extract_json():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Here:\n```json\n{"a": [1, 2]}\n```\nok') == {"a": [1, 2]}
    assert extract_json('The answer is {"action": "wait", "reason": "empty"} done') == {"action": "wait", "reason": "empty"}
    assert extract_json("[1, 2]") == [1, 2]
    assert extract_json("no json") is None


def test_extract_code():
    assert extract_code("```python\ndef f():\n    return 1\n```") == "def f():\n    return 1\n"
    assert extract_code("def g():\n    return 2") == "def g():\n    return 2"
    assert extract_code("sorry") is None


def test_split_commands_operators_and_redirects():
    segs = split_commands("cd rig && bd close gt-1 --reason 'a b' 2>/dev/null || echo fail; gt done &")
    assert [s.argv for s in segs] == [["cd", "rig"], ["bd", "close", "gt-1", "--reason", "a b"], ["echo", "fail"], ["gt", "done"]]
    assert [s.op for s in segs] == ["&&", "||", ";", "&"]
    assert segs[1].redirects == [(">", "/dev/null")]


def test_split_heredoc_comments_and_control_words():
    text = ("gt mail send mayor/ -s 'Update' --stdin <<'BODY'\nline with 'quotes' && not a command\nBODY\n"
            "# a comment\nif bd show gt-1; then bd close gt-1; fi")
    segs = split_commands(text)
    assert [s.argv[:2] for s in segs] == [["gt", "mail"], ["bd", "show"], ["bd", "close"]]
    assert segs[0].heredoc == "line with 'quotes' && not a command"


def test_split_quotes_escapes_and_substitution():
    segs = split_commands('git commit -m "it\'s \\"quoted\\"" && bd show $(bd ready -n 1 | head -1)')
    assert segs[0].argv == ["git", "commit", "-m", 'it\'s "quoted"']
    assert segs[1].argv == ["bd", "show", "$(bd ready -n 1 | head -1)"]
    nested = [s.argv for s in segs if s.nested]
    assert nested == [["bd", "ready", "-n", "1"], ["head", "-1"]]


def test_strip_wrappers():
    assert strip_wrappers(["FOO=1", "sudo", "-E", "bd", "list"]) == ["bd", "list"]
    assert strip_wrappers(["env", "-i", "A=1", "timeout", "30", "gt", "done"]) == ["gt", "done"]
    assert strip_wrappers(["xargs", "-n", "1", "bd", "close"]) == ["bd", "close"]
    assert split_commands("BD_ACTOR=x /usr/local/bin/bd ready")[0].program == "bd"


def test_bare_lines_need_to_look_like_commands():
    text = ("make sure the tests pass\nkill the process first\ngt is the Gas Town CLI\n"
            "bd close gt-1 -r done\nUse `tmux kill-session -t gt-x` to stop it, or `gt polecat nuke gastown/x`.")
    assert extract_commands(text) == ["bd close gt-1 -r done", "tmux kill-session -t gt-x", "gt polecat nuke gastown/x"]


def test_echoed_prose_is_not_a_command():
    text = ("git commit failed: the pre-commit hook reports 'src/auth.py:40: F401'. You removed the import. Commit again.\n"
            "git push is what you run next.\ngit add .\nbd close gt-1 --reason 'Fixed. Done.'")
    assert extract_commands(text) == ["git add .", "bd close gt-1 --reason 'Fixed. Done.'"]
