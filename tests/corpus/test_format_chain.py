"""Format -> DPO -> partition on fixtures, the embedded sample town and the real data."""

from collections import Counter

import pytest

from node0_ops.corpus.dpo import build_dpo_pairs
from node0_ops.corpus.examples_common import call_command
from node0_ops.corpus.examples_transcript import parse_session, session_outcome
from node0_ops.corpus.format_sft import build_examples, format_records, message_problems
from node0_ops.corpus.mutations import MUTATION_MODES
from node0_ops.corpus.partition import GENERATED_ORIGINS, partition_corpus
from node0_ops.corpus.schema import ROLES, TASKS, Provenance, Record
from node0_ops.paths import EMBEDDED_TOWN


def test_message_problems_catches_broken_chats():
    ok = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
          {"role": "assistant", "content": "", "tool_calls": [
              {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "ls"}'}}]},
          {"role": "tool", "tool_call_id": "c1", "content": "x"}, {"role": "assistant", "content": "done"}]
    assert message_problems(ok) == []
    assert message_problems(ok[:3] + ok[4:])                               # call never answered
    bad_args = [dict(m) for m in ok]
    bad_args[2] = {**ok[2], "tool_calls": [{**ok[2]["tool_calls"][0], "function": {"name": "Bash", "arguments": "ls"}}]}
    assert message_problems(bad_args)
    assert message_problems(ok[1:]) == []                                  # no system prompt is allowed
    assert message_problems(ok[2:])                                        # starts with the assistant
    assert message_problems(ok[:4])                                        # ends on a tool message


def test_bad_record_is_reported_and_others_still_format():
    good = Record("formula", "formula:f", {"name": "f", "description": "Do f.", "steps": [], "vars": {}},
                  Provenance("/f.toml", "0" * 64, None, 0, "formula"))
    broken = Record("formula", "formula:g", {"name": "g", "description": "Do g.", "vars": {"x": {"required": True}},
                                             "steps": 5}, Provenance("/g.toml", "0" * 64, None, 0, "formula"))
    res = format_records([good, broken])
    assert any(e.meta.get("formula") == "f" for e in res.examples)
    assert res.errors and res.errors[0][0] == broken.record_id and "/g.toml" in res.errors[0][1]


def _sample_records():
    from node0_ops.corpus.collect import collect_town

    return collect_town(EMBEDDED_TOWN).records


@pytest.fixture(scope="module")
def sample_chain():
    recs = _sample_records()
    if not any(r.kind == "transcript" for r in recs):
        pytest.fail(f"the embedded sample town {EMBEDDED_TOWN} has no transcripts")
    res = format_records(recs)
    pairs = build_dpo_pairs(recs, res.examples)
    return recs, res, pairs, partition_corpus(res.examples, pairs)


def test_sample_town_examples_are_well_formed(sample_chain):
    _, res, _, _ = sample_chain
    assert not res.errors
    assert len(res.examples) > 100
    for e in res.examples:
        assert e.role in ROLES and e.task in TASKS
        if e.kind == "chat":
            assert message_problems(e.messages) == [], (e.origin, e.meta)
        else:
            assert e.text.strip()
    origins = Counter(e.origin for e in res.examples)
    assert {"transcript", "beads", "formula", "convention"} <= set(origins)


def test_sample_town_outcomes_cover_the_planted_failures(sample_chain):
    recs, res, _, _ = sample_chain
    outcomes = [session_outcome(r) for r in recs if r.kind == "transcript"]
    assert any(o == "success" for o, _ in outcomes)
    seen = {m for _, modes in outcomes for m in modes}
    assert {"timeout", "wrong_branch", "broke_tests", "pkill", "no_verify", "force_push",
            "wrong_dep_direction"} <= seen, seen
    # only successful sessions give SFT windows
    by_key = {r.source_key: r for r in recs if r.kind == "transcript"}
    for e in res.examples:
        if e.origin == "transcript":
            assert session_outcome(by_key[e.source_key])[0] == "success"


def test_sample_town_pairs(sample_chain):
    recs, _, pairs, _ = sample_chain
    modes = Counter((p.origin, p.failure_mode) for p in pairs)
    assert set(MUTATION_MODES) <= {m for o, m in modes if o == "mutation"}, modes   # + the command tasks' bad variants
    session = [p for p in pairs if p.origin in ("session_pair", "session_fix")]
    assert len(session) >= 3
    roles = {r.source_key: parse_session(r).role for r in recs if r.kind == "transcript"}
    for p in session:
        assert p.source_key in roles and roles[p.source_key] == p.role
        assert len(p.record_ids) == (2 if p.origin == "session_pair" else 1)
        assert message_problems(p.prompt + [{"role": "assistant", "content": p.chosen}]) == []


def test_sample_town_partition_is_leak_free(sample_chain):
    _, _, _, part = sample_chain
    seen = {}
    for item in part.examples + part.pairs:
        assert item.split in ("train", "val", "test")
        assert seen.setdefault(item.source_key, item.split) == item.split
    rid_split = {}
    for item in part.examples + part.pairs:
        if item.origin in GENERATED_ORIGINS:     # rendered for a rule; the record is lineage only
            continue
        for rid in item.record_ids:
            assert rid_split.setdefault(rid, item.split) == item.split


@pytest.mark.realdata
def test_real_data_chain(real_root):
    from node0_ops.corpus.collect import collect_paths

    recs = collect_paths([real_root]).records
    examples = build_examples(recs)
    assert len(examples) > 3000
    assert {e.role for e in examples} == set(ROLES)
    bad = [(e.origin, e.meta) for e in examples if e.kind == "chat" and message_problems(e.messages)]
    assert bad == []
    pairs = build_dpo_pairs(recs, examples)
    assert {"wrong_dep_direction", "raw_shell"} <= {p.failure_mode for p in pairs}
    for p in pairs:
        assert p.chosen != p.rejected
    part = partition_corpus(examples, pairs)
    assert part.counts["exact_dups"] + part.counts["near_dups"] > 0
    assert min(part.counts["examples"].values()) > 100
    # every bd command emitted from beads parses into argv starting with bd
    import shlex
    for e in examples:
        if e.origin == "beads":
            for m in e.messages:
                for c in m.get("tool_calls") or []:
                    assert shlex.split(call_command(c))[0] == "bd"

