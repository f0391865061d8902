"""Collect on ../shared/gastown-real: concrete facts from gastown-formats.md §1.4, §2.2, §5.

Doc discrepancies found (asserted here with the real numbers):
- §1.1 says 33 of the 54 formula TOMLs omit ``type``; the files have 22 explicit
  types (as §1.2 says) and 32 omissions.
- §2.2 lists gastown@4ae4598c deps as blocks 335 / parent-child 246; there is
  also 1 ``related`` dependency.
- ``beads@beads-sync/.beads/issues.jsonl.new`` (836 rows, 835 ids, ``bd-d3e5``
  twice) is bd's leftover atomic-write temp file: an older legacy snapshot whose
  ids all reappear in ``issues.jsonl``. It is collected as a beads file (same
  ``bead:<id>`` source keys, so same split); later stages keep the newest
  ``updated_at`` per id.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from node0_ops.corpus.collect import collect_paths, last_skip_counts

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real(real_root):
    result = collect_paths([real_root])
    return real_root, result, last_skip_counts()


def _top(real_root: Path, rec) -> str:
    return Path(rec.provenance.path).relative_to(real_root).parts[0]


def _issues(real_root, result, folder, suffix=".jsonl"):
    return [r.payload for r in result.records
            if r.kind == "beads_issue" and _top(real_root, r) == folder and r.provenance.path.endswith(suffix)]


def test_no_valid_file_is_quarantined(real):
    _, result, skipped = real
    assert result.quarantine == []
    assert len({r.record_id for r in result.records}) == len(result.records) == 9739
    for rec in result.records:
        json.dumps(rec.payload, allow_nan=False)            # strict JSON, no default=str needed
    # only files that are no source at all are skipped
    assert skipped == {"ext:.json": 1, "ext:.tsv": 1, "ext:.txt": 1, "ext:.yaml": 1, "name:LICENSE": 2}


def test_every_formula_file_parsed(real):
    real_root, result, _ = real
    files = sorted(str(p) for p in real_root.rglob("*") if p.name.endswith((".formula.toml", ".formula.json")))
    formulas = [r for r in result.records if r.kind == "formula"]
    assert len(files) == 57 and sorted(r.provenance.path for r in formulas) == files
    (overlay,) = [r for r in result.records if r.kind == "formula_overlay"]
    assert overlay.provenance.path.endswith("contrib-harnesses/polecat-pr-flow/mol-polecat-work.toml")
    assert overlay.source_key == "formula:mol-polecat-work"
    assert overlay.payload["step_overrides"][0]["step_id"] == "submit-and-exit"
    tomls = [r.payload for r in formulas if _top(real_root, r) in ("gastown", "beads")
             and r.provenance.path.endswith(".toml")]
    assert len(tomls) == 54                                                        # §1.2
    assert Counter(p["type_inferred"] for p in tomls) == {True: 32, False: 22}
    assert Counter(p["type"] for p in tomls) == {"workflow": 47, "convoy": 4, "expansion": 2, "aspect": 1}
    assert sum(len(p["steps"]) for p in tomls) == 1998 and sum(bool(p["steps"]) for p in tomls) == 44
    assert sum(len(p["legs"]) for p in tomls) == 27 and sum(bool(p["legs"]) for p in tomls) == 4
    assert sum(len(p["vars"]) for p in tomls) == 213 and sum(bool(p["vars"]) for p in tomls) == 37
    by_name = {p["name"]: p for p in tomls}
    assert by_name["mol-deacon-patrol"]["version"] == 14
    assert [s["id"] for s in by_name["mol-polecat-work"]["steps"]] == [
        "load-context", "branch-setup", "implement", "commit-changes", "self-review", "build-check",
        "pre-verify", "submit-and-exit"]
    assert by_name["security-audit"]["type"] == "aspect" and len(by_name["security-audit"]["advice"]) == 2
    assert by_name["shiny-enterprise"]["extends"] == ["shiny"]
    assert by_name["shiny-enterprise"]["compose"]["expand"] == [{"target": "implement", "with": "rule-of-five"}]
    assert by_name["towers-of-hanoi-10"]["type_inferred"] and len(by_name["towers-of-hanoi-10"]["steps"]) == 1025


def test_backup_dialect_totals(real):
    real_root, result, _ = real
    issues = _issues(real_root, result, "gastown")
    assert len(issues) == 677 and {p["dialect"] for p in issues} == {"backup"}
    assert Counter(p["status"] for p in issues) == {"closed": 643, "open": 32, "pinned": 1, "hooked": 1}
    assert Counter(p["priority"] for p in issues) == {0: 17, 1: 121, 2: 407, 3: 116, 4: 16}
    assert Counter(p["issue_type"] for p in issues)["agent"] == 27
    assert sum(p["ephemeral"] for p in issues) == 18
    deps = Counter(d["type"] for p in issues for d in p["dependencies"])
    assert deps == {"blocks": 259, "parent-child": 54, "discovered-from": 1, "related": 1}
    assert sum(len(p["labels"]) for p in issues) == 169 and sum(len(p["comments"]) for p in issues) == 14
    assert all(isinstance(p["extra"].get("metadata"), dict) for p in issues)
    events = [r.payload for r in result.records if r.kind == "beads_event"]
    assert len(events) == 3667
    assert Counter(e["event_type"] for e in events)["status_changed"] == 1266
    config = [r.payload for r in result.records if r.kind == "beads_config" and "key" in r.payload]
    assert len(config) == 17 and {"key": "issue_prefix", "value": "gt"} in config


def test_export_dialect_totals(real):
    real_root, result, _ = real
    issues = _issues(real_root, result, "gastown@4ae4598c")
    assert len(issues) == 933 and {p["dialect"] for p in issues} == {"export"}
    assert Counter(p["status"] for p in issues) == {"closed": 714, "open": 201, "in_progress": 11, "hooked": 6,
                                                    "pinned": 1}
    types = Counter(p["issue_type"] for p in issues)
    assert (types["epic"], types["task"]) == (211, 582)
    assert sum(p["ephemeral"] for p in issues) == 436
    assert Counter(d["type"] for p in issues for d in p["dependencies"]) == {"blocks": 335, "parent-child": 246,
                                                                              "related": 1}
    assert all(d["issue_id"] == p["id"] for p in issues for d in p["dependencies"])
    head = _issues(real_root, result, "beads")
    assert len(head) == 1 and head[0]["dialect"] == "export"


def test_legacy_dialect_totals(real):
    real_root, result, _ = real
    issues = _issues(real_root, result, "beads@beads-sync", ".jsonl")
    assert len(issues) == 3077 and {p["dialect"] for p in issues} == {"legacy"}
    assert Counter(p["status"] for p in issues) == {"closed": 2350, "tombstone": 346, "open": 344, "hooked": 37}
    assert sum(p["tombstone"] for p in issues) == 346
    assert all("deleted_at" in p["extra"] for p in issues if p["tombstone"])
    types = Counter(p["issue_type"] for p in issues)
    assert (types["task"], types["event"], types["merge-request"], types["role"]) == (1493, 652, 102, 1)
    assert Counter(d["type"] for p in issues for d in p["dependencies"]) == {
        "parent-child": 702, "blocks": 666, "discovered-from": 70, "related": 6, "relates-to": 3,
        "supersedes": 2, "replies-to": 2, "duplicates": 1}
    new = _issues(real_root, result, "beads@beads-sync", ".jsonl.new")
    assert len(new) == 836 and len({p["id"] for p in new}) == 835
    assert {p["id"] for p in new} <= {p["id"] for p in issues}
    assert Counter(p["priority"] for p in new)[0] == 89          # omitted priority = P0 (omitempty)


def test_headers_and_merge_requests(real):
    real_root, result, _ = real
    issues = _issues(real_root, result, "gastown")
    slung = [p for p in issues if "attached_formula" in p["headers"]]
    assert slung and all(p["headers"]["attached_formula"].startswith("mol-") for p in slung)
    crew = next(p for p in issues if p["id"] == "gt-gastown-crew-dennis")
    assert crew["headers"]["role_type"] == "crew" and crew["headers"]["hook_bead"] is None
    mrs = [r for r in result.records if r.kind == "merge_request"]
    assert len(mrs) == 28 and all(r.source_key.startswith("bead:bd-") for r in mrs)
    assert {r.provenance.rig for r in mrs} == {"beads"}


def test_role_inference_examples(real):
    real_root, result, _ = real
    roles = {Path(r.provenance.path).relative_to(real_root).as_posix(): (r.kind, r.provenance.rig, r.provenance.role)
             for r in result.records if r.kind in ("role_template", "role_config", "claude_md", "prime_output")}
    assert roles["gastown/internal/templates/roles/polecat.md.tmpl"] == ("role_template", "gastown", "polecat")
    assert roles["gastown/internal/templates/roles/boot.md.tmpl"] == ("role_template", "gastown", "boot")
    assert roles["gastown/internal/config/roles/witness.toml"] == ("role_config", "gastown", "witness")
    assert roles["gastown/templates/witness-CLAUDE.md"] == ("claude_md", "gastown", "witness")
    assert roles["gastown/AGENTS.md"] == ("claude_md", "gastown", None)
    assert roles["gastown/.beads/PRIME.md"] == ("prime_output", "gastown", None)
    assert roles["beads/CLAUDE.md"] == ("claude_md", "beads", None)
    assert sorted(v[2] for v in roles.values() if v[0] == "role_config") == [
        "crew", "deacon", "dog", "mayor", "polecat", "refinery", "witness"]
    beads_roles = Counter(r.provenance.role for r in result.records if r.kind == "beads_issue")
    assert beads_roles["polecat"] > 0 and beads_roles["crew"] > 0


def test_templated_settings_parse(real):
    real_root, result, _ = real
    settings = {Path(r.provenance.path).relative_to(real_root).as_posix(): r.payload
                for r in result.records if r.kind == "settings"}
    assert len(settings) == 15
    tmpl = settings["gastown/templates/agents/opencode.json.tmpl"]
    assert tmpl["templated"] is True and tmpl["data"]["runtime"]["tmux"]["ready_delay_ms"].startswith("{{")
    hooks = settings["gastown/internal/hooks/templates/claude/settings-autonomous.json"]["data"]["hooks"]
    assert any("{{GT_BIN}}" in h["command"] for entry in hooks["PreToolUse"] for h in entry["hooks"])
