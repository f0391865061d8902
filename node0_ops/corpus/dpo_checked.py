"""Checker-labelled DPO pairs: sample answers from a model, let the project's checkers judge them.

For a training example whose last assistant turn is checkable, the prompt (messages before that
turn) is sampled ``n`` times from a model (the base first, later the current candidate). Each
sample is scored by the checker that fits the example:

- decision scenarios (``meta.allowed`` or ``meta.allowed_actions``, + ``meta.action``): the patrol-decision checker
  (valid JSON, action in the allowed set, the labelled action; :mod:`node0_ops.evals.checks`);
- command answers (a ``bd``/``gt`` reference in the assistant turn): the ``corpus_commands``
  checker (the reference's intents, command validator, forbidden-command detection).

A passing sample is ``chosen``; a failing one ``rejected`` with the failure mode named from the
checker's errors (``invalid_json``, ``disallowed_action``, ``wrong_action``, ``missing_intent``,
``invalid_command``, ``forbidden``). When no sample passes, the example's own (verified) answer
is ``chosen``: on-policy rejections against the gold answer (as in RLHF-style rejection
sampling, Touvron et al. 2023 "Llama 2", §3.2.2; verify-then-keep as in APIGen, Liu et al. 2024).

Usage::

    from node0_ops.corpus.dpo_checked import checked_pairs
    pairs, stats = checked_pairs(examples, sample=lambda messages, n: [...], n=4)
    stats   # {"prompts": 40, "samples": 160, "passed": 71, "pairs": 38, "by_failure_mode": {...}}
"""

from collections import Counter
from collections.abc import Callable, Sequence

from node0_ops.corpus.schema import DpoPair

Sampler = Callable[[list[dict], int], list[str]]


def _last_assistant(messages: list[dict]) -> int | None:
    for i in range(len(messages) - 1, 0, -1):
        if messages[i].get("role") == "assistant" and (messages[i].get("content") or "").strip():
            return i
    return None


def example_checker(example: dict) -> tuple[Callable[[str], object], str] | None:
    """``(check(answer) -> CheckResult, reference_answer)`` for a checkable example, else None."""
    from node0_ops.evals.checkers import run_checker
    from node0_ops.evals.checks import check_patrol_decision

    msgs = example.get("messages") or []
    k = _last_assistant(msgs)
    if k is None:
        return None
    ref = msgs[k]["content"]
    meta = example.get("meta") or {}
    allowed, action = meta.get("allowed_actions") or meta.get("allowed"), meta.get("action")
    if allowed and action:
        accepted = meta.get("accepted_actions") or [action]
        return (lambda a: check_patrol_decision(a, list(allowed), list(accepted))), ref
    from node0_ops.evals.answers import extract_commands

    cmds = [c for c in extract_commands(ref) if c.split()[:1] and c.split()[0] in ("bd", "gt")]
    if not cmds:
        return None
    refs = "\n".join(cmds)
    return (lambda a: run_checker("corpus_commands", a, {"reference_commands": refs})), ref


def failure_mode(errors: Sequence[str]) -> str:
    """A short failure-mode name from checker error messages (first that applies)."""
    text = " ".join(errors).lower()
    for key, mode in (("no json", "invalid_json"), ("json", "invalid_json"), ("not allowed", "disallowed_action"),
                      ("allowed but wrong", "wrong_action"), ("invalid:", "invalid_command"), ("missing intent", "missing_intent")):
        if key in text:
            return mode
    return "forbidden" if text else "failed_check"


def checked_pairs(examples: Sequence[dict], sample: Sampler, *, n: int = 4, origin: str = "checked_sample",
                  max_prompts: int = 0) -> tuple[list[DpoPair], dict]:
    """Sample, check and pair (module docstring). One pair per prompt at most.

    Args:
        examples: example dicts (``store.load_examples`` rows: ``role``, ``task``, ``messages``,
            ``meta``, ``source_key``, ``record_ids``, ``split``).
        sample: ``(prompt_messages, n) -> n answer strings`` (sampled, temperature > 0).
        n: samples per prompt.  max_prompts: stop after this many checkable prompts (0 = all).

    Returns:
        ``(pairs, stats)``; each pair's ``split`` is its example's split (no split leakage).
    """
    pairs, modes, st = [], Counter(), Counter()
    for ex in examples:
        made = example_checker(ex)
        if made is None:
            continue
        if max_prompts and st["prompts"] >= max_prompts:
            break
        check, ref = made
        msgs = ex["messages"]
        prompt = msgs[: _last_assistant(msgs)]
        st["prompts"] += 1
        judged = []
        for ans in sample(prompt, n):
            res = check(ans)
            judged.append((ans, res))
            st["samples"] += 1
            st["passed"] += bool(res.passed)
        good = [a for a, r in judged if r.passed]
        bad = [(a, r) for a, r in judged if not r.passed and a.strip() and a != ref]
        if not bad:
            continue
        chosen = good[0] if good else ref
        rejected, res = bad[0]
        mode = failure_mode(res.errors)
        modes[mode] += 1
        pairs.append(DpoPair(role=ex["role"], task=ex["task"], prompt=prompt, chosen=chosen, rejected=rejected,
                             failure_mode=mode, origin=origin, source_key=ex.get("source_key") or "",
                             record_ids=list(ex.get("record_ids") or []), split=ex.get("split") or ""))
    stats = {**{k: st[k] for k in ("prompts", "samples", "passed")}, "pairs": len(pairs),
             "by_failure_mode": dict(sorted(modes.items()))}
    return pairs, stats
