"""Command-task generator (node0_ops.corpus.examples_commands): verify-then-keep, lineage, direction,
hierarchies, determinism and volume on the embedded town and the real beads."""

import re
from collections import Counter

import pytest

from node0_ops.corpus import examples_commands as ec
from node0_ops.corpus.collect import collect_paths, collect_town
from node0_ops.corpus.examples_commands import (BUILDERS, CLI_SECTIONS, bad_variant, command_dpo_pairs,
                                                command_examples, command_summary, request_templates)
from node0_ops.corpus.examples_commands.draft import Draft
from node0_ops.corpus.examples_commands.framing import FRAMINGS
from node0_ops.corpus.format_sft import GENERATORS, format_records, message_problems
from node0_ops.corpus.schema import Provenance, Record
from node0_ops.evals.answers import extract_commands
from node0_ops.evals.checks import check_dep_direction
from node0_ops.evals.command_validator import validate_all
from node0_ops.evals.conventions import check_conventions
from node0_ops.paths import EMBEDDED_TOWN, real_data_extras


@pytest.fixture(scope="module")
def sample():
    recs = collect_town(EMBEDDED_TOWN).records
    ex, skipped = command_examples(recs)
    return recs, ex, skipped


@pytest.fixture(scope="module")
def real(real_root):
    recs = collect_paths(real_data_extras(real_root)).records
    ex, skipped = command_examples(recs)
    return recs, ex, skipped


def _issues(recs):
    return {r.payload["id"]: r.payload for r in recs if r.kind == "beads_issue" and r.payload.get("id")}


def _answer(ex) -> str:
    return ex.messages[-1]["content"]


def _assert_kept_answers_valid(examples):
    assert examples
    for ex in examples:
        assert message_problems(ex.messages) == [], ex.meta
        answer = _answer(ex)
        assert answer.rstrip().endswith("```") and "```bash\n" in answer
        results = validate_all("\n".join(extract_commands(answer)))
        assert results, answer
        assert all(r.ok and not r.warnings for r in results), [(r.segment, r.errors, r.warnings) for r in results]
        assert check_conventions(extract_commands(answer)).passed, answer
        assert [r.segment for r in results] == [r.segment for r in validate_all("\n".join(ex.meta["commands"]))]
        assert ex.meta["validator"]["ok"] is True and "validator" in ex.meta["validator"]["checks"]


def test_every_kept_answer_passes_the_validator_sample(sample):
    _assert_kept_answers_valid(sample[1])


def test_every_kept_answer_passes_the_validator_real(real):
    _assert_kept_answers_valid(real[1])


def _planted(bead, town, rng):
    return Draft(family="create", variant="planted", role="crew", rig=None,
                 request=f'File "{bead.title}"', commands=[f'bd create {bead.id} -p 9 --colour red'],
                 beads=[bead.id], record_ids=[bead.record_id], source_key=bead.source_key)


def _reversed_dep(edge, town, rng):
    a, b, t = edge
    return Draft(family="dep", variant="planted", role="mayor", rig=None, request=f"{a} waits for {b}",
                 commands=[f"bd dep add {b} {a}" + ("" if t == "blocks" else f" -t {t}")],
                 beads=[a, b], record_ids=[town.beads[a].record_id], source_key=town.beads[a].source_key,
                 dep=(a, b, t))


def test_planted_bad_template_output_is_dropped_and_counted(sample):
    recs, good, _ = sample
    town = ec.build_town(recs)
    ex, skipped = command_examples(recs, builders={"planted": ("bead", _planted, 1.0),
                                                   "flipped": ("edge", _reversed_dep, 0.0)})
    assert ex == []
    rejected = Counter(r.split(":", 1)[0] for _, r in skipped if r.startswith("rejected "))
    assert rejected == {"rejected planted": len(town.beads), "rejected flipped": len(town.edges)}
    assert any("priority must be 0-4" in r for _, r in skipped)
    assert any("dep" in r and "flipped" in r for _, r in skipped)
    summary = command_summary(ex, skipped)
    assert summary["kept"] == 0 and summary["rejected"] == len(town.beads) + len(town.edges)
    assert summary["rejected_by_builder"] == {"planted": len(town.beads), "flipped": len(town.edges)}
    # mixed with the real builders: the planted one never reaches the output, the rest still does
    ex2, sk2 = command_examples(recs, builders={**BUILDERS, "planted": ("bead", _planted, 3.0)})
    assert ex2 and not any(e.meta["builder"] == "planted" for e in ex2)
    assert 0 < sum(r.startswith("rejected planted") for _, r in sk2) < len(town.beads)


def _dep_examples(examples):
    return [e for e in examples if e.meta["family"] == "dep"]


@pytest.mark.parametrize("which", ["sample", "real"])
def test_dep_direction_follows_the_records(which, request):
    recs, ex, _ = request.getfixturevalue(which)
    issues = _issues(recs)
    deps = _dep_examples(ex)
    assert deps
    for e in deps:
        blocked, blocker, dtype = e.meta["dep"]
        edges = {(d["issue_id"], d["depends_on_id"], d["type"]) for d in issues[blocked].get("dependencies") or []}
        assert (blocked, blocker, dtype) in edges              # the record says blocked depends on blocker
        assert check_dep_direction(extract_commands(_answer(e)), blocked, blocker, dtype).passed
        assert not check_dep_direction(extract_commands(_answer(e)), blocker, blocked, dtype).passed
        assert e.meta["beads"] == [blocked, blocker]


def test_epics_and_children_come_from_real_hierarchies(real):
    recs, ex, _ = real
    issues = _issues(recs)
    epics = [e for e in ex if e.meta["family"] == "epic"]
    assert len(epics) >= 10
    assert {e.meta["variant"] for e in epics} == {"existing-epic", "new-epic"}
    for e in epics:
        epic_id, kids = e.meta["beads"][0], e.meta["beads"][1:]
        assert issues[epic_id]["issue_type"] == "epic" and len(kids) >= 2
        results = [r for r in validate_all("\n".join(extract_commands(_answer(e)))) if r.subcommand == "create"]
        want_parent = "$EPIC" if e.meta["variant"] == "new-epic" else epic_id
        children = [r for r in results if not r.flags.get("silent")]
        assert len(children) == len(kids)
        assert all(r.flags.get("parent") == want_parent for r in children)
        titles = {r.positionals[0] for r in children}
        assert titles == {issues[k]["title"].strip() for k in kids}
        for k in kids:
            p = issues[k]
            linked = any(d.get("type") == "parent-child" and d.get("depends_on_id") == epic_id
                         for d in p.get("dependencies") or [])
            assert linked or k.rsplit(".", 1)[0] == epic_id or (p.get("extra") or {}).get("parent") == epic_id
    creates = [e for e in ex if e.meta["family"] == "create" and e.meta["parent"]]
    assert creates and all(f"--parent {e.meta['parent']}" in _answer(e) for e in creates)


def test_all_families_framings_and_formats_present(real, sample):
    _, ex, _ = real
    assert {e.meta["family"] for e in ex} == set(CLI_SECTIONS)
    assert {e.meta["framing"] for e in ex} == set(FRAMINGS)
    assert {e.meta["answer_format"] for e in ex} == {"bash", "lines", "none"}
    assert {e.meta["family"] for e in sample[1]} >= {"create", "dep", "epic", "sling", "done"}
    # variety of operator language: distinct requests, several wordings per family
    users = [[m for m in e.messages if m["role"] == "user"][-1]["content"] for e in ex]
    assert len(set(users)) == len(users)
    assert len(request_templates()) >= 60


def test_roles_and_tasks_fit_the_work(real):
    _, ex, _ = real
    by = {}
    for e in ex:
        by.setdefault(e.meta["family"], Counter())[e.role] += 1
        bd_family = e.meta["family"] in ("create", "close", "status", "priority", "label", "reopen", "dep", "epic")
        assert e.task == ("bead-management" if bd_family else "conventions")
        assert bd_family == all(c.startswith(("bd ", "EPIC=$(bd ")) for c in e.meta["commands"]) or \
            e.meta["variant"] == "nochanges"    # bd close --reason "no-changes: ..." then gt done
    assert set(by["done"]) == {"polecat"}
    assert set(by["sling"]) == {"mayor"} and set(by["convoy"]) == {"mayor"}
    assert set(by["nudge"]) <= {"witness", "mayor"}
    assert "polecat" not in by["close"]          # polecats do not close; the refinery closes after merge


def test_lineage_fields(real, real_root):
    recs, ex, _ = real
    ids, issues = {r.record_id for r in recs}, _issues(recs)
    bd_ref = (real_root / "beads" / "docs" / "CLI_REFERENCE.md").read_text()
    gt_ref = (real_root / "gastown" / "docs" / "reference.md").read_text()
    for e in ex:
        m = e.meta
        assert m["generator"] == "commands" and e.origin == "commands"
        assert m["family"] in CLI_SECTIONS and m["cli_ref"] == CLI_SECTIONS[m["family"]]
        assert m["beads"] and all(b in issues for b in m["beads"])
        assert set(e.record_ids) <= ids and e.source_key.startswith("bead:")
        assert m["validator"] == {"ok": True, "checks": m["validator"]["checks"], "errors": []}
    for fam, section in CLI_SECTIONS.items():
        doc, _, heading = section.partition(" § ")
        head = re.sub(r" \(.*\)$", "", heading)
        if doc.endswith("CLI_REFERENCE.md"):
            assert re.search(rf"^#+ {re.escape(head)}$", bd_ref, re.M), fam
        elif doc.endswith("reference.md"):
            assert re.search(rf"^#+ {re.escape(head)}", gt_ref, re.M), fam
        else:
            repo, _, rel = doc.partition(" ")
            assert (real_root / repo / rel).is_file(), fam


def test_deterministic_and_seeded(sample, monkeypatch):
    recs, ex, skipped = sample
    again, sk2 = command_examples(recs)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in ex] and sk2 == skipped
    monkeypatch.setattr(ec, "SEED", "another-seed")
    other, _ = command_examples(recs)
    assert [e.example_id for e in other] != [e.example_id for e in ex]


def test_real_volume(real):
    _, ex, skipped = real
    assert 1000 <= len(ex) <= 3500
    summary = command_summary(ex, skipped)
    assert summary["kept"] == len(ex) and sum(summary["by_family"].values()) == len(ex)


def test_bad_variants_are_caught_by_the_checkers(real):
    _, ex, _ = real
    pairs = command_dpo_pairs(ex)
    assert len(pairs) >= 0.8 * len(ex)
    modes = Counter(p.failure_mode for p in pairs)
    assert {"wrong_dep_direction", "invalid_priority", "unknown_flag", "raw_shell", "invalid_status",
            "missing_parent", "wrong_branch"} <= set(modes)
    for e in ex[:400]:
        got = bad_variant(e)
        if got is None:
            continue
        rejected, mode = got
        cmds = extract_commands(rejected)
        if mode == "wrong_dep_direction":
            blocked, blocker, dtype = e.meta["dep"]
            assert not check_dep_direction(cmds, blocked, blocker, dtype).passed
        elif mode == "missing_parent":
            assert "--parent" not in rejected and "--parent" in _answer(e)
        elif mode == "wrong_branch":
            assert "git push origin HEAD:main" in rejected
        else:
            bad = validate_all("\n".join(cmds))
            assert any(not r.ok for r in bad) or not check_conventions(cmds).passed, rejected
    with_bad = [e for e in ex if bad_variant(e) is not None]
    assert len(with_bad) == len(pairs)
    for e, p in zip(with_bad, pairs):
        assert p.prompt == e.messages[:-1] and p.chosen == _answer(e) and p.rejected != p.chosen
        assert p.origin == "mutation" and p.role == e.role and p.task == e.task
    with pytest.raises(ValueError, match="origin"):
        from node0_ops.corpus.schema import Example
        bad_variant(Example(kind="text", role="crew", task="conventions", origin="doc", source_key="x",
                            record_ids=[], text="t"))


def test_bad_payloads_are_skipped_with_reasons(tmp_path):
    prov = Provenance(str(tmp_path / "issues.jsonl"), "0" * 64, 1, 0, "beads_issue")
    recs = [Record("beads_issue", "bead:x-1", {"id": "x-1", "title": "Fix the thing", "priority": "high"}, prov),
            Record("beads_issue", "bead:x-2", {"id": "x-2", "title": "", "priority": 1}, prov),
            Record("beads_issue", "bead:x-3", {"id": "x-3", "title": "line one\nline two", "priority": 1}, prov)]
    ex, skipped = command_examples(recs)
    assert ex == []
    reasons = dict(skipped)
    assert "priority 'high'" in reasons[recs[0].record_id]
    assert reasons[recs[1].record_id] == "missing id or title"
    assert "multi-line" in reasons[recs[2].record_id]


def test_registered_in_format_stage():
    assert command_examples in GENERATORS
    res = format_records(collect_town(EMBEDDED_TOWN).records)
    assert not res.errors
    assert Counter(e.origin for e in res.examples)["commands"] > 20

