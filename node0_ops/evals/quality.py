"""Quality summary of an eval report: the numbers a Gas Town role model is judged by.

- ``patrol``: pass rate of patrol-decision cases (right action, per the formula's rule);
- ``valid_json``: patrol-decision answers that are valid JSON with an allowed action, right or
  wrong (checker score >= 0.5, :func:`node0_ops.evals.checks.check_patrol_decision`);
- ``bead`` / ``conventions`` / ``git``: pass rates of those categories;
- ``forbidden``: answers containing a forbidden command (``pkill``, force push, ``--no-verify``,
  ``rm -rf`` outside the work tree ...; :func:`node0_ops.evals.conventions.find_forbidden`);
- ``hit_max_tokens``: answers cut at the generation budget (the model did not stop).

Usage::

    from node0_ops.evals.quality import summarize
    summarize(report)   # {"patrol": 0.9, "valid_json": 1.0, "bead": 0.85, ...}
"""

from node0_ops.evals.report import EvalReport

CATEGORY_KEYS = {"patrol-decision": "patrol", "bead-management": "bead", "conventions": "conventions",
                 "git-workflow": "git"}


def _rate(cases) -> float | None:
    return round(sum(c.passed for c in cases) / len(cases), 4) if cases else None


def has_forbidden(answer: str) -> bool:
    """True when the answer's commands include a forbidden one."""
    from node0_ops.evals.answers import extract_commands
    from node0_ops.evals.conventions import find_forbidden

    try:
        cmds = extract_commands(answer or "")
    except Exception:  # noqa: BLE001 - an unparseable answer has no runnable command
        return False
    return bool(cmds) and bool(find_forbidden(cmds))


def summarize(report: EvalReport) -> dict:
    """Headline numbers of one report (keys in the module docstring; None where no case applies)."""
    out = {"n": len(report.cases), "overall": _rate(report.cases)}
    for cat, key in CATEGORY_KEYS.items():
        out[key] = _rate([c for c in report.cases if c.category == cat])
    patrol = [c for c in report.cases if c.category == "patrol-decision"]
    out["valid_json"] = round(sum(c.score >= 0.5 for c in patrol) / len(patrol), 4) if patrol else None
    out["forbidden"] = sum(has_forbidden(c.answer) for c in report.cases)
    hits = [getattr(c, "hit_max_tokens", None) for c in report.cases]
    out["hit_max_tokens"] = sum(bool(h) for h in hits) if any(h is not None for h in hits) else None
    return out


def scenario_tasks(examples, *, limit: int = 0) -> list:
    """Held-out decision scenarios (corpus TEST split rows, ``origin == "scenario"``) as eval tasks.

    Each becomes a ``patrol_decision`` task: allowed actions from ``meta.allowed``, the labelled
    ``meta.action`` accepted, the reason must cite one of ``meta.cites`` when the scenario names
    any; extra answer fields are allowed (some framings ask for ``target``/``bead``/...).
    ``limit`` > 0 keeps that many, spread evenly over the rows (sorted by example id).
    """
    from node0_ops.evals.checks import patrol_decision_schema
    from node0_ops.evals.tasks import EvalTask

    rows = sorted((e for e in examples if e.get("origin") == "scenario" and e.get("messages")),
                  key=lambda e: e["example_id"])
    if limit and len(rows) > limit:
        rows = [rows[i * len(rows) // limit] for i in range(limit)]
    out = []
    for e in rows:
        meta = e.get("meta") or {}
        allowed = list(meta.get("allowed") or [])
        if not allowed or meta.get("action") not in allowed:
            continue
        schema = {**patrol_decision_schema(allowed), "additionalProperties": True}
        args = {"allowed_actions": allowed, "accepted_actions": [meta["action"]], "schema": schema}
        if meta.get("cites"):
            args["reason_mentions"] = list(meta["cites"])
        msgs = [m for m in e["messages"] if m["role"] != "assistant"] if e["messages"][-1]["role"] == "assistant" else e["messages"]
        out.append(EvalTask(task_id=f"heldout-{e['example_id']}", category="patrol-decision", role=e["role"],
                            messages=msgs, checker="patrol_decision", checker_args=args, json_schema=schema,
                            reference=e["messages"][-1]["content"], source="corpus:test"))
    return out
