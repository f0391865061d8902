"""Decision-scenario generator: rule extraction from formula prose, labels, framings, lineage."""

import json
from collections import Counter
from pathlib import Path

import pytest

from node0_ops.corpus.collect import collect_paths
from node0_ops.corpus.examples_scenarios import scenario_examples
from node0_ops.corpus.format_sft import GENERATORS, message_problems
from node0_ops.corpus.scenarios.framings import DIMENSIONS
from node0_ops.corpus.scenarios.rules import action_of, extract_rules, parse_range
from node0_ops.corpus.schema import Provenance, Record
from node0_ops.evals.checks import check_patrol_decision
from node0_ops.paths import EMBEDDED_TOWN

REAL_FORMULAS = Path("gastown/internal/formula/formulas")


def _records(*roots):
    return [r for r in collect_paths(list(roots)).records if r.kind == "formula"]


def _rec(name, steps, vars_=None, description=""):
    return Record("formula", f"formula:{name}", {"name": name, "steps": steps, "vars": vars_ or {},
                                                 "description": description},
                  Provenance(f"/f/{name}.toml", "0" * 64, None, 0, "formula"))


@pytest.fixture(scope="module")
def embedded():
    return scenario_examples(_records(EMBEDDED_TOWN / ".beads" / "formulas"))


def _rules(recs, name):
    rec = next(r for r in recs if r.payload["name"] == name)
    return {(r.step_id, r.family): r for r in extract_rules(rec.payload)[0]}


def test_lexicon_and_ranges():
    assert action_of("2. File a death warrant for each detected zombie") == "file-warrant"
    assert action_of("Deacon is likely restarting. **Do NOT alert.**") == "continue"
    assert action_of("Abort merge (clean up temp branch) **Send FIX_NEEDED directly") == "fix-needed"
    assert parse_range("Alive, idle 5-15 min") == (5, 15)
    assert parse_range("> 5x timeout") == (5, None)
    assert parse_range("idle < 5 min") == (None, 5)
    assert parse_range("5+") == (5, None)


def test_rules_from_embedded_prose():
    recs = _records(EMBEDDED_TOWN / ".beads" / "formulas")
    w = _rules(recs, "mol-witness-patrol")
    idle = w[("nudge-stuck", "idle")]
    assert idle.actions == {"hit": "nudge", "over": "restart", "third": "escalate"}
    assert (idle.threshold, idle.threshold_src) == (15.0, "var:idle_minutes")
    stall = w[("check-refinery", "refinery-stall")]
    assert stall.actions == {"hit": "nudge", "gone": "escalate"} and stall.threshold == 60
    boot = _rules(recs, "mol-boot-triage")[("decide", "boot-table")]
    assert [r.action for r in boot.rows] == ["continue", "continue", "nudge", "restart", "start"]
    d = _rules(recs, "mol-deacon-patrol")
    assert d[("zombie-scan", "zombie")].actions["hit"] == "notify-witness"
    assert d[("loop-or-exit", "context")].threshold == 70


@pytest.mark.realdata
def test_rules_from_real_prose(real_root):
    recs = _records(real_root / REAL_FORMULAS)
    d = _rules(recs, "mol-deacon-patrol")
    z = d[("zombie-scan", "zombie")]
    assert z.actions == {"hit": "file-warrant", "clear": "continue"} and z.threshold == 10
    assert "If zombies detected" in z.text
    dog = d[("dog-health-check", "dog-timeout")]
    assert [r.action for r in dog.rows] == ["warn", "file-warrant", "escalate"] and dog.threshold == 10
    cyc = d[("health-scan", "health-cycles")]
    assert [(r.lo, r.hi, r.action) for r in cyc.rows] == [(1, 2, "continue"), (3, 4, "restart"), (5, None, "escalate")]
    boot = _rules(recs, "mol-boot-triage")[("decide", "boot-table")]
    acts = {r.action for r in boot.rows}
    assert {"start", "continue", "nudge", "wake", "interrupt"} <= acts
    w = _rules(recs, "mol-witness-patrol")
    dd = w[("check-refinery", "deacon-down")]
    assert dd.actions["hit"] == "escalate" and dd.actions["fresh"] == "continue" and dd.threshold == 5
    assert w[("survey-workers", "dead-session")].actions["pending-mr"] == "continue"
    assert w[("survey-workers", "idle")].extra["hung"] == 30
    r = _rules(recs, "mol-refinery-patrol")[("handle-failures", "tests")]
    assert r.actions == {"hit": "fix-needed", "pre-existing": "file-bug", "clear": "merge"}
    j = _rules(recs, "mol-dog-jsonl")[("verify", "export-spike")]
    assert (j.threshold, j.threshold_src, j.actions["hit"]) == (20.0, "var:spike_threshold", "halt")


def test_unparseable_steps_are_skipped_with_reason():
    rec = _rec("mol-witness-patrol", [{"id": "tidy", "title": "Tidy", "description": "Archive your mail."},
                                      {"id": "odd", "title": "Odd", "description": "If the moon is full, ponder."}])
    ex, skipped = scenario_examples([rec])
    assert ex == []
    reasons = dict(skipped)
    assert len(skipped) == 2 and all(rid == rec.record_id for rid, _ in skipped)
    assert any("no condition -> action" in why for _, why in skipped)
    assert any("matches no rule family" in why and "moon" in why for _, why in skipped)
    assert reasons  # both steps reported
    with pytest.raises(ValueError, match="not a list"):
        extract_rules({"name": "mol-witness-patrol", "steps": 5})


def test_answers_valid_json_in_allowed_set_and_well_formed(embedded):
    ex, _ = embedded
    assert ex
    for e in ex:
        assert message_problems(e.messages) == [], e.meta
        ans = json.loads(e.messages[-1]["content"])
        allowed = e.meta["allowed"]
        prompt = "\n".join(m["content"] for m in e.messages[:-1])
        assert all(a in prompt for a in allowed)
        res = check_patrol_decision({"action": ans["action"], "reason": ans["reason"]}, allowed, [e.meta["action"]])
        assert res.passed, (res.errors, e.meta)
        assert ans["action"] == e.meta["action"]
        fields = e.meta["framing_dims"]["fields"]
        expected = {"min": [{"action", "reason"}], "opt": [{"action", "reason"}, {"action", "reason", "target"}],
                    "ext": [{"action", "reason", "target", "bead", "command", "confidence"}]}[fields]
        assert set(ans) in expected, (fields, ans)
        if fields == "opt" and "target" in ans:
            assert "target" in prompt
        assert any(str(c).lower() in ans["reason"].lower() for c in e.meta["cites"]), ans["reason"]


def test_labels_follow_the_rules(embedded):
    ex, _ = embedded
    idle = [e for e in ex if e.meta["rule_family"] == "idle"]
    by_fam = {}
    for e in idle:
        by_fam.setdefault(e.meta["family"], set()).add(e.meta["canonical_action"])
    assert by_fam["above-threshold"] == {"nudge"} and by_fam["below-threshold"] == {"continue"}
    assert by_fam["second-strike"] == {"restart"} and by_fam["third-strike"] == {"escalate"}
    # the planted idle minutes sit on the right side of the formula's 15-minute threshold
    for e in idle:
        if e.meta["family"] in ("above-threshold", "below-threshold"):
            user_text = next(m["content"] for m in e.messages if m["role"] == "user")
            cat = e.meta["cites"][0]
            line = next(ln for ln in user_text.split("\n") if ln.startswith(cat + " "))
            mins = int(line.split()[-2].rstrip("m").split("h")[0]) if "h" not in line.split()[-2] else 999
            assert (mins > 15) == (e.meta["family"] == "above-threshold"), line
    zombies = [e for e in ex if e.meta["rule_family"] == "zombie" and e.meta["family"] == "clear-hit"]
    assert zombies and {e.meta["canonical_action"] for e in zombies} == {"notify-witness"}
    dead = {e.meta["family"]: e.meta["canonical_action"] for e in ex if e.meta["rule_family"] == "dead-session"}
    assert dead["clear-hit"] == "recover" and dead["dirty-worktree"] == "escalate"   # never nuke dirty work
    conflicting = [e for e in ex if e.meta["family"] == "conflicting-signals"]
    assert conflicting and {e.meta["canonical_action"] for e in conflicting} == {"escalate"}


def test_first_source_of_a_formula_labels_a_step_later_sources_only_add_steps():
    """The town's copy of a formula and an upstream copy disagree on zombies: the first (the town,
    collected before --extra paths) labels zombie-scan; the upstream adds only its other steps."""
    zombie_town = {"id": "zombie-scan", "title": "Detect zombie polecats (report only)",
                   "description": "A zombie is a polecat session with no hook and no pane activity. Report it to the rig "
                                  'witness with `gt nudge <rig>/witness "zombie: <name>"`. NO kill authority.'}
    zombie_up = {"id": "zombie-scan", "description": "If zombies detected: file a death warrant for each detected zombie."}
    orphan_up = {"id": "orphan-check", "description": "**Step 2: If orphans detected, dispatch to dog**\n"
                                                     "`gt sling mol-orphan-scan deacon/dogs`\n**Step 3: If no orphans detected**\nSkip dispatch."}
    town = _rec("mol-deacon-patrol", [zombie_town])
    upstream = Record("formula", "formula:mol-deacon-patrol", {"name": "mol-deacon-patrol", "steps": [zombie_up, orphan_up],
                                                               "vars": {}, "description": ""},
                      Provenance("/up/mol-deacon-patrol.toml", "1" * 64, None, 0, "formula"))
    ex, skipped = scenario_examples([town, upstream], rounds=2)
    hits = {e.meta["canonical_action"] for e in ex if e.meta["step"] == "zombie-scan" and e.meta["family"] == "clear-hit"}
    assert hits == {"notify-witness"}
    assert {e.record_ids[0] for e in ex if e.meta["step"] == "zombie-scan"} == {town.record_id}
    assert any(e.meta["step"] == "orphan-check" and e.record_ids == [upstream.record_id] for e in ex)
    assert any(rid == upstream.record_id and "zombie-scan: zombie rule already labelled" in why for rid, why in skipped)
    swapped, _ = scenario_examples([upstream, town], rounds=2)
    assert {e.meta["canonical_action"] for e in swapped if e.meta["step"] == "zombie-scan"
            and e.meta["family"] == "clear-hit"} == {"file-warrant"}


@pytest.mark.realdata
def test_real_zombie_gets_death_warrant(real_root):
    ex, _ = scenario_examples(_records(real_root / REAL_FORMULAS))
    z = [e for e in ex if e.meta["rule_family"] == "zombie"]
    hits = [e for e in z if e.meta["family"] == "clear-hit"]
    assert hits and {e.meta["canonical_action"] for e in hits} == {"file-warrant"}
    assert {e.meta["canonical_action"] for e in z if e.meta["family"] == "below-threshold"} == {"continue"}
    boot = [e for e in ex if e.meta["rule_family"] == "boot-table"]
    assert {"start", "wake", "interrupt", "nudge", "continue"} <= {e.meta["canonical_action"] for e in boot}


def test_all_framings_and_lineage(embedded):
    ex, _ = embedded
    for dim, values in DIMENSIONS.items():
        assert {e.meta["framing_dims"][dim] for e in ex} == set(values), dim
    no_sys = [e for e in ex if e.meta["framing_dims"]["system"] == "none"]
    assert no_sys and all(e.messages[0]["role"] == "user" and len(e.messages) == 2 for e in no_sys)
    md = [e for e in ex if e.meta["framing_dims"]["layout"] == "markdown"]
    assert md and all("## " in e.messages[-1 - 1]["content"] and "```\n$ " in e.messages[-2]["content"] for e in md)
    flow = [e for e in ex if e.meta["framing_dims"]["layout"] == "flow"]
    assert flow and not any("## " in e.messages[-2]["content"] for e in flow)
    # the question comes after the evidence in ask_last framings
    last = [e for e in ex if e.meta["framing_dims"]["order"] == "ask_last"]
    assert last and all(e.messages[-2]["content"].rfind("$ ") < len(e.messages[-2]["content"]) - 40 for e in last)
    assert len({e.messages[-2]["content"].split("\n")[0] for e in ex}) > 50  # many surface forms
    for e in ex:
        for key in ("formula", "step", "rule_text", "action", "family", "framing", "rule_family"):
            assert e.meta.get(key), (key, e.meta)
        assert e.task == "patrol-decision" and e.origin == "scenario" and len(e.record_ids) == 1


def test_deterministic_and_registered():
    recs = _records(EMBEDDED_TOWN / ".beads" / "formulas")
    a, _ = scenario_examples(recs)
    b, _ = scenario_examples(recs)
    assert [e.example_id for e in a] == [e.example_id for e in b]
    assert scenario_examples in GENERATORS


@pytest.mark.realdata
def test_volume_over_embedded_and_real(real_root):
    recs = _records(EMBEDDED_TOWN / ".beads" / "formulas", real_root / REAL_FORMULAS)
    ex, skipped = scenario_examples(recs)
    roles = Counter(e.role for e in ex)
    assert len({e.example_id for e in ex}) >= 2000
    assert {"deacon", "witness", "refinery", "boot", "dog"} <= set(roles), roles
    assert min(roles.values()) >= 100, roles
    assert skipped and all(":" in why for _, why in skipped)


def test_answers_name_the_evidence_before_the_action(embedded):
    """The reason is decoded first, so the action is conditioned on the evidence the model just named."""
    ex, _ = embedded
    assert ex and all(list(json.loads(e.messages[-1]["content"]))[:2] == ["reason", "action"] for e in ex)


@pytest.mark.realdata
def test_step_families_from_real_prose(real_root):
    """Steps whose decision lives in headings, numbered steps or a signals table get rules too."""
    recs = _records(real_root / REAL_FORMULAS)
    d = _rules(recs, "mol-deacon-patrol")
    dh = d[("dolt-health", "dolt-health")]
    assert dh.actions == {"hit": "escalate", "bloat": "dispatch-dog", "stale-backup": "dispatch-dog",
                          "zombie-proc": "kill-imposters", "orphans": "cleanup", "clear": "continue"}
    assert dh.threshold == 50000 and dh.extra["latency_ms"] == 5000
    assert d[("check-convoy-completion", "convoy")].actions == {"hit": "close-convoy", "clear": "continue"}
    cw = _rules(recs, "mol-witness-patrol")[("process-cleanups", "cleanup-wisp")]
    assert cw.actions == {"dirty": "push-then-nuke", "lost": "escalate", "clear": "continue", "hit": "nuke"}
    r = _rules(recs, "mol-refinery-patrol")
    assert r[("process-branch", "rebase-conflict")].actions == {"hit": "conflict-task", "gone": "close-mr", "clear": "continue"}
    assert r[("merge-push", "push-verify")].actions == {"hit": "retry", "clear": "continue"}
    assert r[("loop-check", "loop")].actions == {"hit": "next-branch", "clear": "continue"}
    sw = r[("context-check", "session-weight")]
    assert sw.actions["hit"] == "handoff" and sw.threshold == 1.5 * 1024
    comp = _rules(recs, "mol-dog-compactor")[("inspect", "compactor")]
    assert (comp.threshold, comp.threshold_src, comp.actions["hit"]) == (500, "text", "compact")


def _dolt_health_action(report: dict, thr: int) -> str:
    """Independent reading of a ``gt health --json`` report (the formula's signal table)."""
    if not report["server"]["running"]:
        return "escalate"
    if any(db["commits"] > thr for db in report["databases"]) or report["backups"]["dolt_stale"] \
            or report["backups"]["jsonl_stale"]:
        return "dispatch-dog"
    if report["processes"]["zombie_count"]:
        return "kill-imposters"
    return "cleanup" if report["orphans"] else "continue"


@pytest.mark.realdata
def test_step_family_labels_match_the_planted_evidence(real_root):
    import random as _random

    from node0_ops.corpus.examples_scenarios import action_for
    from node0_ops.corpus.scenarios.evidence import cases_for

    recs = _records(real_root / REAL_FORMULAS)
    dh = _rules(recs, "mol-deacon-patrol")[("dolt-health", "dolt-health")]
    comp = _rules(recs, "mol-dog-compactor")[("inspect", "compactor")]
    seen = Counter()
    for case in cases_for(dh, _random.Random(3), 12):
        report = json.loads(case.evidence[0][1])
        assert action_for(dh, case.outcome) == _dolt_health_action(report, int(dh.threshold)), case.reason
        seen[action_for(dh, case.outcome)] += 1
    assert set(seen) == {"escalate", "dispatch-dog", "kill-imposters", "cleanup", "continue"}
    for case in cases_for(comp, _random.Random(4), 12):
        counts = [int(line.split("|")[2]) for line in case.evidence[0][1].splitlines() if line.startswith("| ") and "commits" not in line]
        assert action_for(comp, case.outcome) == ("compact" if max(counts) > comp.threshold else "continue"), counts
