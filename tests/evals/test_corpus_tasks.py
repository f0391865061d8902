"""tasks_from_corpus and intent matching for corpus TEST-split examples."""

import json

from node0_ops.corpus.schema import Example
from node0_ops.evals.checkers import run_checker
from node0_ops.evals.intents import command_intent, intent_matches, matches, parse_commands
from node0_ops.evals.tasks import tasks_from_corpus


def _example(split, assistant, role="polecat", task="bead-management", **extra):
    msgs = [{"role": "system", "content": "You are a polecat."},
            {"role": "user", "content": "gt-abc12 cannot start before gt-xyz34 is done; record it, then close gt-old1."},
            assistant]
    return Example(kind="chat", role=role, task=task, origin="transcript", source_key="session:1",
                   record_ids=["r1"], messages=msgs, split=split, **extra)


def test_tasks_from_corpus_uses_test_split_and_last_command_turn():
    tool_turn = {"role": "assistant", "content": "Recording it.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": json.dumps(
            {"command": "bd dep add gt-abc12 gt-xyz34 && bd close gt-old1 --reason duplicate"})}}]}
    examples = [_example("test", tool_turn), _example("train", tool_turn),
                _example("test", {"role": "assistant", "content": "I would think about it."}).to_dict()]
    tasks = tasks_from_corpus(examples)
    assert len(tasks) == 1
    t = tasks[0]
    assert t.task_id.startswith("corpus-") and t.checker == "corpus_commands" and t.source == "corpus"
    assert t.role == "polecat" and t.category == "bead-management"
    assert t.messages[-1]["role"] == "user" and len(t.messages) == 2
    assert t.checker_args["reference_commands"] == ["bd dep add gt-abc12 gt-xyz34", "bd close gt-old1 --reason duplicate"]
    assert run_checker(t.checker, t.reference, t.checker_args).passed


def test_corpus_checker_compares_key_intent():
    args = {"reference_commands": ["bd dep add gt-abc12 gt-xyz34", "bd close gt-old1 --reason duplicate"]}
    ok = ["```bash\nbd dep add gt-abc12 --blocked-by gt-xyz34\nbd close gt-old1 -r 'dup of gt-abc12'\n```",
          "$ bd dep gt-xyz34 --blocks gt-abc12\n$ bd done gt-old1 --reason=dup"]
    for answer in ok:
        res = run_checker("corpus_commands", answer, args)
        assert res.passed, (answer, res.errors)
    reversed_dep = run_checker("corpus_commands", "```bash\nbd dep add gt-xyz34 gt-abc12\nbd close gt-old1 -r x\n```", args)
    assert not reversed_dep.passed and reversed_dep.score == 0.5
    wrong_id = run_checker("corpus_commands", "```bash\nbd dep add gt-abc12 gt-xyz34\nbd close gt-old2 -r x\n```", args)
    assert not wrong_id.passed and "missing intent: bd close gt-old1" in wrong_id.errors[0]
    invalid = run_checker("corpus_commands", "```bash\nbd dep add gt-abc12 gt-xyz34\nbd close gt-old1 -r x\nbd update gt-1 -s done\n```", args)
    assert not invalid.passed and invalid.score == 0.5


def test_intent_flags_and_aliases():
    ref = command_intent(parse_commands("bd update gt-1 --status in_progress -p P1")[0])
    same = command_intent(parse_commands("bd update gt-1 -s in_progress --priority 1 --notes x")[0])
    other = command_intent(parse_commands("bd update gt-1 --status blocked -p 1")[0])
    assert intent_matches(ref, same) and not intent_matches(ref, other)
    assert command_intent(parse_commands("bd update gt-1 --status nope")[0]) is None
    assert command_intent(parse_commands("git push")[0]) is None
    t = command_intent(parse_commands("bd new 'x' -t feat")[0])
    assert t.subcommand == "create" and dict(t.flags)["type"] == "feature"


def test_matchers():
    cmds = parse_commands("bd create 'Token refresh' --parent gt-ep01 -l a,b\ngit push origin polecat/toast/gt-1")
    assert matches({"cmd": "bd create", "flags": {"parent": "gt-ep01", "labels": ["b"]}, "text_regex": "token"}, cmds[0])
    assert not matches({"cmd": "bd create", "flags_absent": ["parent"]}, cmds[0])
    assert matches({"any_of": [{"cmd": "bd close"}, {"cmd": "git push", "args": ["origin"]}]}, cmds[1])
    assert not matches({"cmd": "git push", "args": ["main"]}, cmds[1])
    assert matches({"cmd": "bd create", "args": ["Token refresh"], "ordered_args": True}, cmds[0])


def test_commands_checker_gives_no_credit_without_commands():
    args = {"expect": [{"cmd": "gt done"}]}
    assert run_checker("commands", "I would finish now.", args).score == 0.0
    half = run_checker("commands", "```bash\ngt done --status NOPE\n```", args)
    assert not half.passed and 0.0 < half.score < 1.0
