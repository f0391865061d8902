"""Beads JSONL: three dialects normalized into one payload (gastown-formats.md §2.2, §6)."""

import json
from pathlib import Path

import pytest

from node0_ops.corpus.beads import BeadsRowError, detect_dialect, normalize_issue, parse_headers
from node0_ops.corpus.collect import collect_paths

DESC = "attached_formula: mol-polecat-work\nattached_at: 2026-01-02T03:04:05Z\ndispatched_by: mayor\n\nFix the witness."
DEP = {"issue_id": "gt-abc", "depends_on_id": "gt-def", "type": "blocks"}
CORE = ("id", "title", "description", "status", "priority", "issue_type", "labels", "dependencies",
        "assignee", "owner", "created_by", "created_at", "updated_at", "closed_at", "close_reason",
        "ephemeral", "tombstone", "headers")

EXPORT_ROW = {
    "_type": "issue", "id": "gt-abc", "title": "Fix witness", "description": DESC, "status": "closed",
    "priority": 1, "issue_type": "task", "assignee": "gastown/polecats/toast", "owner": "o@example.com",
    "created_at": "2026-01-01T00:00:00Z", "created_by": "mayor", "updated_at": "2026-01-03T00:00:00Z",
    "closed_at": "2026-01-03T00:00:00Z", "close_reason": "done", "ephemeral": True,
    "labels": ["gt:task", "witness"], "metadata": {"k": "v"},
    "dependencies": [dict(DEP, created_at="2026-01-01T00:00:00Z", created_by="mayor", metadata="{}")],
    "comments": [{"id": "c1", "issue_id": "gt-abc", "author": "mayor", "text": "go", "created_at": "2026-01-02T00:00:00Z"}],
    "dependency_count": 1, "dependent_count": 0, "comment_count": 1,
}
BACKUP_ROW = {
    "id": "gt-abc", "title": "Fix witness", "description": DESC, "status": "closed", "priority": 1,
    "issue_type": "task", "assignee": "gastown/polecats/toast", "owner": "o@example.com",
    "created_at": "2026-01-01T00:00:00Z", "created_by": "mayor", "updated_at": "2026-01-03T00:00:00Z",
    "closed_at": "2026-01-03T00:00:00Z", "close_reason": "done", "ephemeral": 1, "pinned": 0,
    "metadata": '{"k": "v"}', "design": "", "notes": "", "content_hash": "ab12", "compaction_level": 0,
    "waiters": "", "spec_id": "",
}
LEGACY_ROW = {
    "id": "gt-abc", "title": "Fix witness", "description": DESC, "status": "closed", "priority": 1,
    "issue_type": "task", "assignee": "gastown/polecats/toast", "owner": "o@example.com",
    "created_at": "2026-01-01T00:00:00Z", "created_by": "mayor", "updated_at": "2026-01-03T00:00:00Z",
    "closed_at": "2026-01-03T00:00:00Z", "close_reason": "done", "wisp": True,
    "labels": ["gt:task", "witness"],
    "dependencies": [dict(DEP, created_at="2026-01-01T00:00:00Z", created_by="mayor")],
}


def _jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _backup_dir(base: Path) -> Path:
    bdir = base / ".beads" / "backup"
    _jsonl(bdir / "issues.jsonl", [BACKUP_ROW, dict(BACKUP_ROW, id="gt-def", title="Blocker", description="",
                                                     ephemeral=0, assignee=None)])
    _jsonl(bdir / "dependencies.jsonl", [dict(DEP, created_at="2026-01-01T00:00:00Z", created_by="mayor")])
    _jsonl(bdir / "labels.jsonl", [{"issue_id": "gt-abc", "label": "gt:task"}, {"issue_id": "gt-abc", "label": "witness"}])
    _jsonl(bdir / "comments.jsonl", [{"id": 1, "issue_id": "gt-abc", "author": "mayor", "text": "go",
                                      "created_at": "2026-01-02T00:00:00Z"}])
    _jsonl(bdir / "events.jsonl", [{"id": 7, "issue_id": "gt-abc", "event_type": "status_changed",
                                    "actor": "gastown/witness", "old_value": '{"status":"open"}',
                                    "new_value": '{"status":"closed"}', "comment": None,
                                    "created_at": "2026-01-03T00:00:00Z"}])
    _jsonl(bdir / "config.jsonl", [{"key": "issue_prefix", "value": "gt"}])
    return bdir


def test_dialect_detection_follows_the_format_doc():
    assert detect_dialect(EXPORT_ROW) == "export"
    assert detect_dialect({k: v for k, v in EXPORT_ROW.items() if k != "_type"}) == "export"  # counts alone
    assert detect_dialect(BACKUP_ROW) == "backup"
    assert detect_dialect(LEGACY_ROW) == "legacy"
    assert detect_dialect(LEGACY_ROW, backup_table=True) == "backup"


def test_three_dialects_normalize_to_the_same_issue(tmp_path):
    export = normalize_issue(EXPORT_ROW, "export")
    legacy = normalize_issue(LEGACY_ROW, "legacy")
    _backup_dir(tmp_path)
    result = collect_paths([tmp_path])
    backup = next(r.payload for r in result.records if r.kind == "beads_issue" and r.payload["id"] == "gt-abc")
    assert backup["dialect"] == "backup" and export["dialect"] == "export" and legacy["dialect"] == "legacy"
    for key in CORE:
        assert export[key] == legacy[key] == backup[key], key
    assert export["dependencies"] == [DEP]            # issue_id is blocked by depends_on_id
    assert export["ephemeral"] is True and backup["ephemeral"] is True and legacy["ephemeral"] is True
    assert backup["comments"][0]["text"] == export["comments"][0]["text"] == "go"
    assert export["headers"] == {"attached_formula": "mol-polecat-work", "attached_at": "2026-01-02T03:04:05Z",
                                 "dispatched_by": "mayor"}


def test_backup_ints_strings_and_metadata_are_normalized(tmp_path):
    payload = normalize_issue(BACKUP_ROW, "backup")
    assert payload["extra"]["metadata"] == {"k": "v"}       # JSON string parsed
    assert payload["extra"]["pinned"] is False              # 0/1 ints become bools
    for empty in ("design", "notes", "waiters", "spec_id"):  # "" means absent
        assert empty not in payload["extra"]
    assert payload["extra"]["content_hash"] == "ab12"
    assert isinstance(payload["priority"], int)


def test_backup_tables_are_joined_and_events_config_collected(tmp_path):
    bdir = _backup_dir(tmp_path)
    result = collect_paths([tmp_path])
    issues = {r.payload["id"]: r for r in result.records if r.kind == "beads_issue"}
    assert set(issues) == {"gt-abc", "gt-def"}
    abc = issues["gt-abc"]
    assert abc.payload["labels"] == ["gt:task", "witness"]
    assert abc.payload["dependencies"] == [DEP]
    assert abc.provenance.line == 1 and abc.provenance.path == str(bdir / "issues.jsonl")
    assert abc.provenance.role == "polecat" and abc.source_key == "bead:gt-abc"
    assert issues["gt-def"].provenance.line == 2
    assert issues["gt-def"].payload["dependencies"] == [] and issues["gt-def"].payload["ephemeral"] is False
    (event,) = [r for r in result.records if r.kind == "beads_event"]
    assert event.source_key == "bead:gt-abc" and event.payload["new_value"] == {"status": "closed"}
    assert event.provenance.role == "witness" and event.provenance.rig == "gastown"
    (cfg,) = [r for r in result.records if r.kind == "beads_config"]
    assert cfg.payload == {"key": "issue_prefix", "value": "gt"}
    sources = {Path(s.path).name: s for s in result.sources}
    assert sources["dependencies.jsonl"].n_records == 1 and sources["labels.jsonl"].n_records == 2
    assert result.quarantine == []


def test_orphan_backup_rows_are_quarantined_not_dropped(tmp_path):
    bdir = _backup_dir(tmp_path)
    with open(bdir / "labels.jsonl", "a") as fh:
        fh.write(json.dumps({"issue_id": "gt-gone", "label": "x"}) + "\n")
    result = collect_paths([tmp_path])
    (q,) = result.quarantine
    assert q.path.endswith("labels.jsonl") and q.position == "line 3" and "gt-gone" in q.reason


def test_legacy_tombstone_priority_and_unknown_fields(tmp_path):
    tomb = {"id": "bd-06px", "title": "old", "status": "tombstone", "priority": 1, "issue_type": "bug",
            "created_at": "2025-12-17T14:32:02-08:00", "updated_at": "2025-12-25T01:21:01-08:00",
            "deleted_at": "2025-12-25T01:21:01-08:00", "deleted_by": "batch delete",
            "delete_reason": "batch delete", "original_type": "bug"}
    no_prio = {"id": "bd-1", "title": "p0", "status": "open", "issue_type": "task", "future_field": {"x": 1}}
    path = _jsonl(tmp_path / ".beads" / "issues.jsonl", [tomb, no_prio])
    result = collect_paths([path])
    by_id = {r.payload["id"]: r.payload for r in result.records}
    assert by_id["bd-06px"]["tombstone"] is True and by_id["bd-06px"]["dialect"] == "legacy"
    assert by_id["bd-06px"]["extra"]["delete_reason"] == "batch delete"
    assert by_id["bd-1"]["priority"] == 0                      # omitempty zero value
    assert by_id["bd-1"]["tombstone"] is False
    assert by_id["bd-1"]["extra"]["future_field"] == {"x": 1}  # unknown fields kept, not quarantined
    assert result.quarantine == []


def test_row_without_id_is_quarantined_and_the_rest_kept(tmp_path):
    path = _jsonl(tmp_path / "issues.jsonl", [LEGACY_ROW, {"title": "no id"}, dict(LEGACY_ROW, id="gt-2")])
    result = collect_paths([path])
    assert [r.payload["id"] for r in result.records] == ["gt-abc", "gt-2"]
    assert [r.provenance.line for r in result.records] == [1, 3]
    (q,) = result.quarantine
    assert q.position == "line 2" and "no 'id'" in q.reason
    with pytest.raises(BeadsRowError):
        normalize_issue({"title": "x"}, "legacy")


def test_export_memory_lines_become_config_records(tmp_path):
    path = _jsonl(tmp_path / "issues.jsonl", [EXPORT_ROW, {"_type": "memory", "key": "tip", "value": "use gt done"}])
    result = collect_paths([path])
    assert sorted(r.kind for r in result.records) == ["beads_config", "beads_issue"]
    mem = next(r for r in result.records if r.kind == "beads_config")
    assert mem.payload == {"key": "tip", "value": "use gt done", "memory": True} and mem.provenance.line == 2


def test_headers_only_from_all_key_value_paragraphs():
    desc = ("Crew worker dennis.\n\nrole_type: crew\nrig: gastown\nhook_bead: null\n\n"
            "```yaml\nnot_a: header\n```\n\nnote: prose line\nand more prose")
    assert parse_headers(desc) == {"role_type": "crew", "rig": "gastown", "hook_bead": None}
    assert parse_headers("see https://example.com") == {}
    assert parse_headers(None) == {}
