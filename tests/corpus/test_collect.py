"""Collect stage: classification, discovery, provenance and determinism on a synthetic town."""

import hashlib
import json
from pathlib import Path

import pytest

from node0_ops.corpus.collect import classify, collect_paths, collect_town, last_skip_counts, summarize
from node0_ops.corpus.schema import SOURCE_KINDS

TOWN_FILES = {
    "CLAUDE.md": "# Gas Town\n\nYou are in a Gas Town.\n",
    "settings/config.json": '{"type": "town-settings", "version": 1, "default_agent": "claude"}',
    "mayor/town.json": '{"type": "town", "version": 1, "name": "gt"}',
    "mayor/.claude/settings.json": '{"hooks": {"SessionStart": [{"command": "{{GT_BIN}} prime --hook"}]}}',
    "directives/witness.md": "# Witness directive\n\nNudge stuck polecats.\n",
    "formula-overlays/mol-polecat-work.toml": '[[step-overrides]]\nstep_id = "submit"\nmode = "skip"\n',
    ".beads/formulas/mol-polecat-work.formula.toml":
        'formula = "mol-polecat-work"\nversion = 10\n[[steps]]\nid = "load"\ntitle = "Load"\ndescription = "gt prime"\n',
    ".beads/config.yaml": "issue-prefix: hq\n",
    ".beads/routes.jsonl": '{"prefix": "gt-", "path": "gastown/mayor/rig"}\n',
    ".beads/issues.jsonl": json.dumps({"_type": "issue", "id": "hq-1", "title": "Convoy", "status": "open",
                                       "priority": 2, "issue_type": "convoy", "dependency_count": 0}) + "\n",
    ".events.jsonl": json.dumps({"ts": "2026-01-01T00:00:00Z", "source": "gt", "type": "spawn",
                                 "actor": "gastown/witness", "payload": {"rig": "gastown", "polecat": "toast"},
                                 "visibility": "feed"}) + "\n",
    "logs/prime/polecat-toast.txt": "# Polecat Context\n\nYou are polecat toast.\n",
    "gastown/config.json": '{"type": "rig", "name": "gastown", "beads": {"prefix": "gt"}}',
    "gastown/mayor/rig/AGENTS.md": "# Agent Instructions\n\nUse bd.\n",
    "gastown/mayor/rig/docs/design.md": "---\ntitle: Design\n---\n# Design notes\n",
    "gastown/mayor/rig/.beads/mq/gt-mr1.json": '{"id": "gt-mr1", "branch": "polecat/toast", "rig": "gastown"}',
    "gastown/mayor/rig/internal/templates/roles/refinery.md.tmpl": "# Refinery Context\n{{ cmd }} mq list\n",
    "gastown/mayor/rig/internal/config/roles/refinery.toml": 'role = "refinery"\nscope = "rig"\nsince = 2026-01-02T03:04:05Z\n',
    "gastown/polecats/toast/gastown/CLAUDE.md": "# Polecat\n",
    "gastown/mayor/rig/main.go": "package main\n",
    "gastown/mayor/rig/logo.png": "PNG",
    "gastown/mayor/rig/LICENSE": "MIT\n",
    "gastown/mayor/rig/.git/config": "[core]\n",
}
EXPECTED = {  # rel path -> (kind, rig, role)
    "CLAUDE.md": ("claude_md", None, None),
    "settings/config.json": ("settings", None, None),
    "mayor/town.json": ("settings", None, "mayor"),
    "mayor/.claude/settings.json": ("settings", None, "mayor"),
    "directives/witness.md": ("claude_md", None, "witness"),
    "formula-overlays/mol-polecat-work.toml": ("formula_overlay", None, None),
    ".beads/formulas/mol-polecat-work.formula.toml": ("formula", None, None),
    ".beads/config.yaml": ("beads_config", None, None),
    ".beads/routes.jsonl": ("beads_config", None, None),
    ".beads/issues.jsonl": ("beads_issue", None, None),
    ".events.jsonl": ("town_event", None, None),
    "logs/prime/polecat-toast.txt": ("prime_output", None, "polecat"),
    "gastown/config.json": ("settings", "gastown", None),
    "gastown/mayor/rig/AGENTS.md": ("claude_md", "gastown", None),
    "gastown/mayor/rig/docs/design.md": ("doc", "gastown", None),
    "gastown/mayor/rig/.beads/mq/gt-mr1.json": ("merge_request", "gastown", None),
    "gastown/mayor/rig/internal/templates/roles/refinery.md.tmpl": ("role_template", "gastown", "refinery"),
    "gastown/mayor/rig/internal/config/roles/refinery.toml": ("role_config", "gastown", "refinery"),
    "gastown/polecats/toast/gastown/CLAUDE.md": ("claude_md", "gastown", "polecat"),
    "gastown/mayor/rig/main.go": (None, None, None),
    "gastown/mayor/rig/logo.png": (None, None, None),
    "gastown/mayor/rig/LICENSE": (None, None, None),
}


@pytest.fixture
def town(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude-home"))
    root = tmp_path / "gt"
    for rel, text in TOWN_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_classify(town, rel):
    assert classify(town / rel, town) == EXPECTED[rel]


def test_classify_kinds_are_schema_kinds(town):
    kinds = {classify(town / rel, town)[0] for rel in EXPECTED} - {None}
    assert kinds <= set(SOURCE_KINDS)


def test_collect_town_reads_every_kind_with_provenance(town):
    result = collect_town(town)
    assert result.quarantine == []
    by_path = {}
    for rec in result.records:
        by_path.setdefault(Path(rec.provenance.path).relative_to(town).as_posix(), []).append(rec)
    expected_files = {rel for rel, (kind, _, _) in EXPECTED.items() if kind}
    assert set(by_path) == expected_files
    for rel, recs in by_path.items():
        kind, rig, role = EXPECTED[rel]
        digest = hashlib.sha256((town / rel).read_bytes()).hexdigest()
        for rec in recs:
            assert rec.kind == kind and rec.provenance.source_kind == kind
            assert rec.provenance.sha256 == digest
            assert Path(rec.provenance.path).is_absolute()
            assert rec.provenance.offset == 0 or rec.provenance.line is not None
    event = by_path[".events.jsonl"][0]
    assert (event.provenance.line, event.provenance.offset) == (1, 0)
    assert (event.provenance.rig, event.provenance.role) == ("gastown", "witness")   # from the actor
    settings = by_path["mayor/.claude/settings.json"][0].payload
    assert settings["templated"] is True and settings["data"]["hooks"]["SessionStart"][0]["command"].startswith("{{GT_BIN}}")
    assert by_path["gastown/mayor/rig/docs/design.md"][0].payload == {
        "text": TOWN_FILES["gastown/mayor/rig/docs/design.md"], "title": "Design notes", "front_matter": {"title": "Design"}}
    assert by_path["gastown/mayor/rig/.beads/mq/gt-mr1.json"][0].source_key == "bead:gt-mr1"
    assert by_path["CLAUDE.md"][0].source_key == "file:CLAUDE.md"
    role_cfg = by_path["gastown/mayor/rig/internal/config/roles/refinery.toml"][0].payload
    assert role_cfg["role"] == "refinery" and role_cfg["data"]["since"] == "2026-01-02T03:04:05+00:00"
    for rec in result.records:
        json.dumps(rec.payload, allow_nan=False)   # TOML/YAML dates become ISO strings
    srcs = {Path(s.path).relative_to(town).as_posix(): s for s in result.sources}
    assert set(srcs) == expected_files
    assert srcs[".beads/routes.jsonl"].n_records == 1 and srcs[".beads/routes.jsonl"].size_bytes > 0


def test_skips_are_silent_counted_and_deterministic(town):
    first = collect_town(town)
    skipped = last_skip_counts()
    assert skipped == {"dir:.git": 1, "ext:.go": 1, "ext:.png": 1, "name:LICENSE": 1}
    second = collect_town(town)
    assert [r.record_id for r in first.records] == [r.record_id for r in second.records]
    assert len({r.record_id for r in first.records}) == len(first.records)
    assert summarize(second)["skipped"] == skipped
    assert summarize(second)["records_by_kind"]["claude_md"] == 4


def test_extra_paths_and_single_files(town, tmp_path):
    extra = tmp_path / "notes" / "plan.md"
    extra.parent.mkdir()
    extra.write_text("# Plan\n")
    result = collect_town(town, extra_paths=[extra])
    (rec,) = [r for r in result.records if r.provenance.path == str(extra)]
    assert rec.kind == "doc" and rec.source_key == "file:plan.md" and rec.payload["title"] == "Plan"


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        collect_town(tmp_path / "missing")
    with pytest.raises(ValueError, match="max_line_bytes"):
        collect_paths([tmp_path], max_line_bytes=0)


def test_sample_town_collects_cleanly(sample_town, monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude-home"))
    result = collect_town(sample_town)
    assert result.quarantine == [], result.quarantine[:5]
    kinds = {r.kind for r in result.records}
    assert {"formula", "beads_issue", "role_template", "role_config", "claude_md", "settings"} <= kinds
