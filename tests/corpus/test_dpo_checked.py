"""Checker-labelled DPO pairs: a passing sample is chosen, a failing one rejected with its failure mode."""

import json

from node0_ops.corpus.dpo_checked import checked_pairs, example_checker, failure_mode

DECISION = {"role": "witness", "task": "patrol-decision", "split": "train", "source_key": "s:1", "record_ids": ["r1"],
            "meta": {"allowed_actions": ["continue", "nudge", "escalate"], "action": "nudge"},
            "messages": [{"role": "system", "content": "You are the witness."},
                         {"role": "user", "content": "$ gt polecat list\nquill  working  idle 41m"},
                         {"role": "assistant", "content": json.dumps({"action": "nudge", "reason": "quill idle 41m"})}]}
COMMAND = {"role": "mayor", "task": "bead-management", "split": "val", "source_key": "b:2", "record_ids": ["r2"], "meta": {},
           "messages": [{"role": "user", "content": "close gt-k2x9 as fixed"},
                        {"role": "assistant", "content": "```bash\nbd close gt-k2x9 --reason \"fixed\"\n```"}]}


def _sampler(answers):
    return lambda messages, n: list(answers)[:n]


def test_passing_sample_is_chosen_and_failing_rejected_with_mode():
    good = json.dumps({"action": "nudge", "reason": "quill idle 41 minutes"})
    wrong = json.dumps({"action": "continue", "reason": "fine"})
    pairs, stats = checked_pairs([DECISION], _sampler([wrong, good]), n=2)
    assert len(pairs) == 1 and pairs[0].chosen == good and pairs[0].rejected == wrong
    assert pairs[0].failure_mode == "wrong_action" and pairs[0].split == "train" and pairs[0].origin == "checked_sample"
    assert stats == {"prompts": 1, "samples": 2, "passed": 1, "pairs": 1, "by_failure_mode": {"wrong_action": 1}}
    assert pairs[0].prompt == DECISION["messages"][:2]


def test_no_passing_sample_pairs_against_the_verified_reference():
    pairs, _ = checked_pairs([DECISION], _sampler(["I would nudge them", json.dumps({"action": "reboot", "reason": "x"})]), n=2)
    assert pairs[0].chosen == DECISION["messages"][-1]["content"] and pairs[0].failure_mode == "invalid_json"


def test_all_samples_pass_gives_no_pair():
    good = json.dumps({"action": "nudge", "reason": "quill idle 41m"})
    pairs, stats = checked_pairs([DECISION], _sampler([good, good]), n=2)
    assert pairs == [] and stats["passed"] == 2


def test_command_examples_use_the_command_checker():
    check, ref = example_checker(COMMAND)
    assert check(ref).passed
    assert not check("```bash\nbd close gt-zzzz\n```").passed
    pairs, _ = checked_pairs([COMMAND], _sampler(["```bash\nbd close gt-zzzz --reason fixed\n```"]), n=1)
    assert pairs and pairs[0].chosen == ref and pairs[0].split == "val"
    assert failure_mode(["missing intent: bd close gt-k2x9"]) == "missing_intent"


def test_uncheckable_examples_are_skipped():
    prose = {**COMMAND, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    assert example_checker(prose) is None
    assert checked_pairs([prose], _sampler(["x"]))[1]["prompts"] == 0
