"""Dedup, leak-free splits, coverage, contradictions and reversions (partition / conventions)."""

import random

import pytest

from node0_ops.corpus.conventions import Flag
from node0_ops.corpus.partition import (
    MinHasher, coverage, find_contradictions, find_reversions, near_duplicates, partition_corpus, shingles, split_of,
)
from node0_ops.corpus.schema import ROLES, SPLITS, TASKS, DpoPair, Example, Provenance, Record

WORDS = ("bead polecat witness refinery merge queue branch rebase formula patrol convoy mayor deacon dog hook "
         "sling nudge escalate commit push test build lint review epic child dependency blocker close claim").split()


def _text(seed, n=80):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _ex(i, key=None, text=None, rids=None, role="polecat", task="git-workflow"):
    return Example("text", role, task, "doc", key or f"file:doc{i}", rids or [f"r{i}"], text=text or _text(i))


def _pair(key, rids, i):
    return DpoPair("polecat", "git-workflow", [{"role": "user", "content": f"{_text(1000 + i, 30)}"}],
                   f"```bash\ngit push origin b{i}\n```", f"```bash\ngit push --force origin b{i}\n```",
                   "force_push", "mutation", key, rids)


def test_split_is_deterministic_and_seed_dependent():
    exs = [_ex(i) for i in range(300)]
    a = partition_corpus(exs, [], seed=0)
    b = partition_corpus(list(reversed(exs)), [], seed=0)
    assert {e.example_id: e.split for e in a.examples} == {e.example_id: e.split for e in b.examples}
    c = partition_corpus(exs, [], seed=1)
    assert {e.example_id: e.split for e in a.examples} != {e.example_id: e.split for e in c.examples}
    counts = a.counts["examples"]
    assert set(counts) == set(SPLITS) and sum(counts.values()) == 300
    assert 15 <= counts["val"] <= 50 and 15 <= counts["test"] <= 50      # ~10% each of 300 groups
    assert all(e.split == "" for e in exs)                                # inputs untouched


def test_no_source_leaks_across_splits_and_pairs_follow_their_source():
    exs = [_ex(i * 10 + j, key=f"session:s{i}", rids=[f"rec{i}"]) for i in range(60) for j in range(3)]
    pairs = [_pair(f"session:s{i}", [f"rec{i}"], i) for i in range(60)]
    res = partition_corpus(exs, pairs, val_frac=0.2, test_frac=0.2, seed=3)
    split_of_key = {}
    for item in res.examples + res.pairs:
        assert split_of_key.setdefault(item.source_key, item.split) == item.split
    assert len(set(split_of_key.values())) == 3


def test_session_pair_links_two_sources_into_one_split():
    exs = [_ex(i, key=f"session:{k}", rids=[f"rec-{k}"]) for i, k in enumerate(["a", "b", "c", "d"] * 3)]
    # a pair from failed session a and successful session b holds both record ids
    pair = _pair("session:a", ["rec-a", "rec-b"], 0)
    for seed in range(20):
        res = partition_corpus(exs, [pair], seed=seed, val_frac=0.3, test_frac=0.3)
        splits = {e.source_key: e.split for e in res.examples}
        assert splits["session:a"] == splits["session:b"] == res.pairs[0].split
    assert res.counts["groups"] == 3


def test_exact_and_near_duplicates_removed():
    base = _text(7, 200)
    near = base.replace(base.split()[100], "zzzunique", 1)           # one word changed: Jaccard ~0.97
    exs = [_ex(1, text=base), _ex(2, text=base.upper() + "  "), _ex(3, text=near), _ex(4, text=_text(8, 200))]
    res = partition_corpus(exs, [])
    kinds = {d[0]: d[2] for d in res.duplicates}
    assert kinds[exs[1].example_id] == "exact" and kinds[exs[2].example_id] == "near"
    kept = {e.example_id for e in res.examples}
    assert exs[0].example_id in kept and exs[3].example_id in kept and len(kept) == 2
    assert res.counts["exact_dups"] == 1 and res.counts["near_dups"] == 1
    dup_of = {d[0]: d[1] for d in res.duplicates}
    assert dup_of[exs[2].example_id] == exs[0].example_id


def test_near_dup_threshold_is_respected():
    a = _text(11, 100)
    words = a.split()
    b = " ".join(words[:60] + _text(12, 40).split())                  # shares ~60% of the text
    assert near_duplicates([a, b], threshold=0.9) == []
    assert near_duplicates([a, a + " end"], threshold=0.9) == [(1, 0)]
    with pytest.raises(ValueError):
        near_duplicates([a], threshold=0)


def test_duplicate_pairs_removed():
    p1, p2 = _pair("session:a", ["r1"], 0), _pair("session:b", ["r2"], 0)
    res = partition_corpus([], [p1, p2])
    assert len(res.pairs) == 1 and res.duplicates[0][2] == "exact"


def test_pairs_sharing_a_prompt_are_not_near_dups_unless_answers_match():
    prompt = [{"role": "user", "content": _text(31, 150)}]
    a = DpoPair("polecat", "git-workflow", prompt, "gt done", "git push --force origin HEAD", "force_push",
                "mutation", "session:a", ["ra"])
    b = DpoPair("polecat", "git-workflow", prompt, "gt done", "git push origin HEAD:main", "wrong_branch",
                "mutation", "session:a", ["ra"])
    near_prompt = [{"role": "user", "content": prompt[0]["content"] + " and one more"}]
    c = DpoPair("polecat", "git-workflow", near_prompt, "gt done", "git push --force origin HEAD", "force_push",
                "session_pair", "session:z", ["rz", "ra"])
    res = partition_corpus([], [a, b, c])
    kept = {p.pair_id for p in res.pairs}
    assert kept == {b.pair_id, c.pair_id}                   # a is c's near duplicate; the session pair wins
    assert res.duplicates == [(a.pair_id, c.pair_id, "near")]


def test_minhash_estimates_jaccard():
    a, b = shingles(_text(21, 300)), shingles(_text(21, 300)[:1200] + _text(22, 100))
    j = len(a & b) / len(a | b)
    mh = MinHasher(256)
    est = float((mh.signature(a) == mh.signature(b)).mean())
    assert abs(est - j) < 0.1


def test_fraction_validation():
    with pytest.raises(ValueError, match="sum < 1"):
        partition_corpus([], [], val_frac=0.6, test_frac=0.5)
    assert split_of("file:x", 0, 0.0, 0.0) == "train"


def test_coverage_reports_cells_below_minimum():
    exs = [_ex(i, role="polecat", task="git-workflow") for i in range(3)] + [_ex(9, role="mayor", task="planning")]
    gaps = coverage(exs, 2)
    assert ("mayor", "planning", 1) in gaps
    assert not any(r == "polecat" and t == "git-workflow" for r, t, _ in gaps)
    assert len(gaps) == len(ROLES) * len(TASKS) - 1


def _doc(kind, path, text, role=None, sha="a"):
    return Record(kind, f"file:{path}", {"text": text, "title": path},
                  Provenance(path, sha * 64, None, 0, kind, "gastown", role))


def test_contradiction_found_on_planted_pair():
    a = _doc("claude_md", "/town/CLAUDE.md", "# Town\n\n- Never force-push to a polecat branch.\n- Always run gt prime.\n")
    b = _doc("doc", "/town/directives/polecat.md", "# Directive\n\nAlways force-push to a polecat branch after rebasing.\n", sha="b")
    c = _doc("claude_md", "/town/gastown/AGENTS.md", "Always run gt prime first.\n", sha="c")
    flags = find_contradictions([a, b, c])
    assert len(flags) == 1
    (f,) = flags
    assert f.kind == "contradiction" and {f.path_a, f.path_b} == {"/town/CLAUDE.md", "/town/directives/polecat.md"}
    assert "force-push" in f.detail


def test_two_versions_of_one_file_and_role_scoping():
    v1 = _doc("claude_md", "/town/CLAUDE.md", "Do not push directly to main.\n", sha="1")
    v2 = _doc("claude_md", "/town/CLAUDE.md", "Always push directly to main.\n", sha="2")
    assert len(find_contradictions([v1, v2])) == 1
    assert find_contradictions([v1, v1]) == []
    # crew may push to main while polecats may not: role-specific templates do not contradict
    crew = _doc("role_template", "/t/templates/roles/crew.md.tmpl", "Always push directly to main.\n", sha="3")
    pole = _doc("role_template", "/t/templates/roles/polecat.md.tmpl", "Never push directly to main.\n", sha="4")
    assert find_contradictions([crew, pole]) == []


def test_reversion_detected():
    hist = {"/town/CLAUDE.md": ["s1", "s2", "s3"], "/town/AGENTS.md": ["a1", "a2"], "/town/x.md": ["x1"]}
    cur = {"/town/CLAUDE.md": "s1", "/town/AGENTS.md": "a2", "/town/x.md": "x1", "/town/new.md": "n1"}
    flags = find_reversions(hist, cur)
    assert flags == [Flag("reversion", "/town/CLAUDE.md", "/town/CLAUDE.md", flags[0].detail)]
    assert "version 1 of 3" in flags[0].detail
    assert find_reversions({"/p": ["a", "b", "a"]}, {"/p": "a"}) == []       # already latest
    assert len(find_reversions({"/p": ["a", "b", "a", "c"]}, {"/p": "a"})) == 1
