"""Bad input is quarantined with path, position and reason; good records around it survive."""

import json
import tracemalloc
from pathlib import Path

from node0_ops.corpus.collect import collect_paths, collect_town

GOOD_EVENT = {"ts": "2026-01-01T00:00:00Z", "source": "gt", "type": "sling", "actor": "mayor",
              "payload": {"bead": "gt-abc", "target": "gastown/polecats/toast"}, "visibility": "feed"}


def _lines(*rows: bytes) -> bytes:
    return b"".join(rows)


def _event(**kw) -> bytes:
    return (json.dumps(dict(GOOD_EVENT, **kw)) + "\n").encode()


def _by_path(result):
    return {Path(q.path).name: q for q in result.quarantine}


def test_truncated_and_non_object_lines(tmp_path):
    path = tmp_path / ".events.jsonl"
    path.write_bytes(_lines(_event(), b'{"ts": "2026-01-01T00:00:01Z", "type": "done", "act\n', b"[1, 2]\n",
                            _event(type="done"), b'{"ts": "2026'))
    result = collect_paths([path])
    assert [r.provenance.line for r in result.records] == [1, 4]
    assert [r.payload["type"] for r in result.records] == ["sling", "done"]
    got = {q.position: q.reason for q in result.quarantine}
    assert set(got) == {"line 2", "line 3", "line 5"}
    assert got["line 2"].startswith("invalid JSON: Unterminated string")
    assert got["line 3"] == "expected a JSON object, got list"
    assert "truncated" in got["line 5"]
    assert all(q.source_kind == "town_event" for q in result.quarantine)


def test_byte_offsets_point_at_the_record(tmp_path):
    path = tmp_path / ".feed.jsonl"
    data = _lines(_event(), b"\n", b"garbage\n", _event(type="done"))
    path.write_bytes(data)
    result = collect_paths([path])
    for rec in result.records:
        line = data[rec.provenance.offset:].split(b"\n", 1)[0]
        assert json.loads(line) == rec.payload


def test_invalid_utf8_line_and_file(tmp_path):
    path = tmp_path / ".events.jsonl"
    path.write_bytes(_lines(_event(), b'{"ts": "x", "type": "mail", "actor": "caf\xe9"}\n', _event(type="done")))
    (tmp_path / "notes.md").write_bytes(b"# Notes\n\nna\xefve \xff text\n")
    (tmp_path / "ok.md").write_text("# OK\n\nfine\n")
    result = collect_paths([tmp_path])
    q = _by_path(result)
    assert q[".events.jsonl"].position == "line 2" and "invalid UTF-8 at byte" in q[".events.jsonl"].reason
    assert q["notes.md"].position == "byte 11" and "invalid UTF-8" in q["notes.md"].reason
    kinds = sorted((r.kind, r.provenance.line) for r in result.records)
    assert kinds == [("doc", None), ("town_event", 1), ("town_event", 3)]


def test_invalid_toml_and_json(tmp_path):
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "witness.toml").write_text('role = "witness"\n[session\nwork_dir = "x"\n')
    (tmp_path / "roles" / "crew.toml").write_text('role = "crew"\n')
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "config.json").write_text('{"type": "town-settings",\n "version": 1,,\n}')
    mq = tmp_path / ".beads" / "mq"
    mq.mkdir(parents=True)
    (mq / "bd-1.json").write_text('{"id": "bd-1", "branch": "polecat/x"')
    (mq / "bd-2.json").write_text('{"id": "bd-2", "branch": "polecat/y", "rig": "beads"}')
    result = collect_paths([tmp_path])
    q = _by_path(result)
    assert q["witness.toml"].position == "line 2" and q["witness.toml"].reason.startswith("invalid TOML")
    assert q["config.json"].position == "line 2" and q["config.json"].reason.startswith("invalid JSON")
    assert q["bd-1.json"].reason.startswith("invalid JSON") and q["bd-1.json"].source_kind == "merge_request"
    good = {(r.kind, r.source_key) for r in result.records}
    assert good == {("role_config", "file:roles/crew.toml"), ("merge_request", "bead:bd-2")}


def test_templated_json_is_not_quarantined(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "opencode.json.tmpl").write_text(
        '{"command": "{{GT_BIN}} prime", "tmux": {"ready_delay_ms": {{.ReadyDelayMs | default 8000}}}}')
    result = collect_paths([tmp_path])
    assert result.quarantine == []
    (rec,) = result.records
    assert rec.kind == "settings" and rec.payload["templated"] is True
    assert rec.payload["data"] == {"command": "{{GT_BIN}} prime",
                                   "tmux": {"ready_delay_ms": "{{.ReadyDelayMs | default 8000}}"}}


def test_binary_files(tmp_path):
    (tmp_path / "AGENTS.md").write_bytes(b"# Agents\n\x00\x01\x02binary")
    (tmp_path / ".events.jsonl").write_bytes(b"\x00\x00\x00\x00" + bytes(range(256)) * 4)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = collect_paths([tmp_path])
    q = _by_path(result)
    assert set(q) == {"AGENTS.md", ".events.jsonl"}          # the .png is skipped, not quarantined
    assert q["AGENTS.md"].position == "byte 9" and q["AGENTS.md"].reason.startswith("binary file")
    assert q[".events.jsonl"].position == "byte 0"
    assert result.records == []


def test_empty_files(tmp_path):
    (tmp_path / "README.md").write_text("")
    (tmp_path / "blank.formula.toml").write_text("  \n\n")
    (tmp_path / ".events.jsonl").write_text("")
    backup = tmp_path / ".beads" / "backup"
    backup.mkdir(parents=True)
    (backup / "issues.jsonl").write_text(json.dumps({"id": "gt-1", "title": "t", "status": "open",
                                                     "priority": 2, "metadata": "{}"}) + "\n")
    (backup / "comments.jsonl").write_text("")                # an empty table is a valid state
    result = collect_paths([tmp_path])
    q = _by_path(result)
    assert set(q) == {"README.md", "blank.formula.toml", ".events.jsonl"}
    assert all(e.reason.startswith("empty file") and e.position == "whole file" for e in q.values())
    assert [r.payload["id"] for r in result.records] == ["gt-1"]


def test_100mb_single_line_is_streamed(tmp_path):
    path = tmp_path / ".events.jsonl"
    with open(path, "wb") as fh:
        fh.write(_event())
        fh.write(b'{"ts": "2026-01-01T00:00:00Z", "type": "mail", "payload": {"body": "')
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write(b'"}}\n')
        fh.write(_event(type="done"))
    (tmp_path / "huge.md").write_bytes(b"# Huge\n" + b"y" * (20 << 20))
    tracemalloc.start()
    try:
        result = collect_paths([tmp_path], max_line_bytes=8_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.payload["type"] for r in result.records] == ["sling", "done"]
    assert [r.provenance.line for r in result.records] == [1, 3]
    q = _by_path(result)
    assert q[".events.jsonl"].position == "line 2"
    assert "over max_line_bytes=8000000" in q[".events.jsonl"].reason and "104857" in q[".events.jsonl"].reason
    assert q["huge.md"].position == "whole file" and "over max_line_bytes" in q["huge.md"].reason
    assert peak < 40 * (1 << 20), f"peak {peak / 2**20:.1f} MiB: the long line was held in memory"
    # the file hash still covers every byte
    import hashlib
    assert result.records[0].provenance.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_beads_fields_are_kept_not_quarantined(tmp_path):
    row = {"id": "gt-9", "title": "t", "status": "open", "priority": 2, "issue_type": "task",
           "dependency_count": 0, "brand_new_field": [1, 2], "another": {"deep": True}}
    (tmp_path / "issues.jsonl").write_text(json.dumps(row) + "\n")
    result = collect_paths([tmp_path])
    assert result.quarantine == []
    assert result.records[0].payload["extra"]["brand_new_field"] == [1, 2]
    assert result.records[0].payload["extra"]["another"] == {"deep": True}


def test_run_completes_and_keeps_every_good_record(tmp_path):
    town = tmp_path / "gt"
    (town / "docs").mkdir(parents=True)
    (town / "CLAUDE.md").write_text("# Town\n\nRun gt prime.\n")
    (town / "docs" / "ok.md").write_text("# Doc\n")
    (town / "docs" / "bad.md").write_bytes(b"\xff\xfe")
    (town / ".beads").mkdir()
    (town / ".beads" / "issues.jsonl").write_bytes(
        b'{"id": "hq-1", "title": "a", "status": "open"}\n{"id": "hq-2", "tit\n{"id": "hq-3", "title": "c"}\n')
    (town / "formula-overlays").mkdir()
    (town / "formula-overlays" / "mol-x.toml").write_text("[[step-overrides\n")
    (town / "main.go").write_text("package main\n")
    (town / "LICENSE").write_text("MIT\n")
    result = collect_town(town)
    assert sorted(r.source_key for r in result.records) == ["bead:hq-1", "bead:hq-3", "file:CLAUDE.md",
                                                            "file:docs/ok.md"]
    assert sorted((Path(q.path).name, q.position) for q in result.quarantine) == [
        ("bad.md", "byte 0"), ("issues.jsonl", "line 2"), ("mol-x.toml", "line 1")]
    src = {Path(s.path).name: (s.n_records, s.n_quarantined) for s in result.sources}
    assert src["issues.jsonl"] == (2, 1) and src["bad.md"] == (0, 1)
    assert "main.go" not in src and "LICENSE" not in src
