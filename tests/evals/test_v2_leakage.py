"""Suite v2 is held out: no v2 prompt is in the corpus the main job trains on (exactly, contained,
or as a near-duplicate: char 5-gram Jaccard >= 0.8), and the v2 builder shares no string template
with the corpus generators. Planted duplicates prove the detectors can fail."""

import json
import random
from pathlib import Path

import pytest

from node0_ops.evals.leakage import (NearDuplicateIndex, check_leakage, is_tool_fact, jaccard, shared_templates,
                                     shingles, string_literals, suite_texts)
from node0_ops.evals.tasks import load_suite, suite_dir

ROOT = Path(__file__).resolve().parents[2]
BUILDER = suite_dir("v2").parent / "build_v2.py"
CORPUS_SOURCES = sorted((ROOT / "node0_ops" / "corpus").rglob("*.py"))
V2 = load_suite("v2")


@pytest.fixture(scope="module")
def main_job_corpus(real_corpus) -> Path:
    """Corpus export built like the main job: embedded town + the real formulas and beads."""
    return real_corpus["export_dir"]


def test_no_v2_prompt_in_any_training_split(main_job_corpus):
    report = check_leakage(V2, main_job_corpus, threshold=0.8, k=5)
    assert report.n_queries >= len(V2) and report.n_targets > 5000
    assert report.ok, report.summary()


def _fake_export(tmp_path: Path, rows: list[list[dict]]) -> Path:
    out = tmp_path / "export"
    out.mkdir()
    with open(out / "sft_train.jsonl", "w") as f:
        for msgs in rows:
            f.write(json.dumps({"messages": msgs}) + "\n")
    (out / "dpo_train.jsonl").write_text(json.dumps({"prompt": [{"role": "user", "content": "unrelated dpo prompt"}],
                                                     "chosen": [], "rejected": []}) + "\n")
    return out


def _mutate(text: str, n: int, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(n):
        chars[rng.randrange(len(chars))] = rng.choice("xyzqj")
    return "".join(chars)


def test_planted_duplicates_are_found(tmp_path):
    rng = random.Random(11)
    a, b, c, d = V2[3], V2[60], V2[150], V2[190]
    ua, ub, uc, ud = (t.messages[-1]["content"] for t in (a, b, c, d))
    near = _mutate(ub, max(1, len(ub) // 200), rng)
    assert near != ub and jaccard(shingles(near), shingles(ub)) >= 0.8
    export = _fake_export(tmp_path, [
        [{"role": "user", "content": "  " + ua.upper().replace("\n", "\n\n") + " "}],      # exact after normalising
        [{"role": "system", "content": "card"}, {"role": "user", "content": near}],      # near-duplicate
        [{"role": "user", "content": "Earlier context.\n" + uc + "\nMore."}],            # contained
        [{"role": "user", "content": _mutate(ud, len(ud) // 4, rng)}],                    # too far: not flagged
    ])
    report = check_leakage([a, b, c, d], export)
    assert not report.ok
    exact = {(m.query.split(":")[0], m.kind) for m in report.exact}
    assert (a.task_id, "exact") in exact and (c.task_id, "contained") in exact
    assert {m.query.split(":")[0] for m in report.near} >= {a.task_id, b.task_id}
    assert d.task_id not in {m.query.split(":")[0] for m in report.exact + report.near}
    assert "near-duplicates" in report.summary()


def test_index_has_no_false_negatives_against_brute_force():
    rng = random.Random(5)
    queries = suite_texts(V2[::7])
    texts = [(f"t{i}", _mutate(q, rng.randint(0, len(q) // 15), rng)) for i, q in enumerate(queries.values())]
    texts += [(f"o{i}", t.messages[-1]["content"]) for i, t in enumerate(V2[1::7])]
    index = NearDuplicateIndex(queries, 0.8, 5)
    found = {(m.query, m.target) for tid, text in texts for m in index.matches(tid, text)}
    brute = {(q, tid) for q, qt in queries.items() for tid, text in texts
             if jaccard(shingles(qt), shingles(text)) >= 0.8}
    assert found == brute and len(brute) >= 10
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(queries, 1.5)


def test_builder_shares_no_template_with_the_corpus_generators():
    assert CORPUS_SOURCES and len(string_literals(BUILDER.read_text())) > 50
    shared = shared_templates([BUILDER], CORPUS_SOURCES, min_len=25)
    assert shared == [], shared[:5]
    strict = shared_templates([BUILDER], CORPUS_SOURCES, min_len=25, exempt=lambda s: False)
    assert all(is_tool_fact(lit) for lit, _, _ in strict), strict   # only command lines and fixed tool output


def test_tool_fact_exemption_is_narrow():
    assert is_tool_fact("bd list --status=in_progress --json") and is_tool_fact("gt deacon zombie-scan --dry-run")
    assert is_tool_fact("No merge requests in queue.")
    assert not is_tool_fact("What do you do about the polecats?")
    assert not is_tool_fact('gt nudge {target} "Status check: please continue"')
    assert not is_tool_fact("gt polecat list {rig} shows the idle ones")


def test_shared_template_detector_finds_planted_literals(tmp_path):
    lit = sorted(string_literals(BUILDER.read_text()), key=len)[-1]
    gen = tmp_path / "examples_planted.py"
    gen.write_text(f'"""Docstring that mentions nothing."""\nTEMPLATE = {lit!r}\n')
    assert (lit, str(BUILDER), str(gen)) in shared_templates([BUILDER], [gen])
    other = tmp_path / "other_gen.py"
    other.write_text(f"PHRASE = {lit[:30]!r}\n")  # part of a builder literal: occurs in the builder's source
    hits = shared_templates([BUILDER], [other])
    assert [h for h in hits if h[1] == str(other)], hits    # a corpus literal found in the builder's source
    doc_only = tmp_path / "doc_only.py"
    doc_only.write_text(f'"""{lit}"""\n')
    assert not [h for h in shared_templates([doc_only], [BUILDER]) if h[1] == str(doc_only)]  # docstrings are not templates
