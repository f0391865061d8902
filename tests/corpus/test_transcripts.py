"""Claude Code transcripts: discovery, payload shape, role from cwd (gastown-formats.md §3.1, §4)."""

import json
from pathlib import Path

import pytest

from node0_ops.corpus.collect import collect_town, last_skip_counts
from node0_ops.corpus.transcripts import mangle_cwd, role_from_cwd

UUID = "0b5e3c1e-1111-4a4a-9c9c-123456789abc"


def _session(path: Path, cwd: str, session_id: str = UUID, extra_lines=()) -> Path:
    lines = [
        {"type": "user", "sessionId": session_id, "cwd": cwd, "timestamp": "2026-01-01T00:00:00Z", "uuid": "u1",
         "parentUuid": None, "message": {"role": "user", "content": "Run gt prime and check your hook."}},
        {"type": "assistant", "sessionId": session_id, "cwd": cwd, "timestamp": "2026-01-01T00:00:05Z", "uuid": "a1",
         "parentUuid": "u1", "message": {"role": "assistant", "model": "claude-x", "content": [
             {"type": "thinking", "thinking": "hook first"},
             {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "gt hook"}}]}},
        {"type": "user", "sessionId": session_id, "cwd": cwd, "timestamp": "2026-01-01T00:00:06Z", "uuid": "u2",
         "parentUuid": "a1", "message": {"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "t1", "content": "gt-abc hooked"}]}},
        {"type": "summary", "summary": "Polecat ran its hook", "leafUuid": "u2"},
        *extra_lines,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.fixture
def town(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "gt"
    (root / "gastown" / "polecats" / "toast").mkdir(parents=True)
    (root / "CLAUDE.md").write_text("# Gas Town\n")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-home"))
    return root


def test_town_local_session_payload_and_role(town):
    cwd = str(town / "gastown" / "polecats" / "toast")
    path = _session(town / ".claude" / "projects" / mangle_cwd(cwd) / f"{UUID}.jsonl", cwd)
    result = collect_town(town)
    (rec,) = [r for r in result.records if r.kind == "transcript"]
    assert rec.source_key == f"session:{UUID}"
    assert rec.provenance.path == str(path) and rec.provenance.line == 1 and rec.provenance.offset == 0
    assert (rec.provenance.rig, rec.provenance.role) == ("gastown", "polecat")
    p = rec.payload
    assert p["session_id"] == UUID and p["cwd"] == cwd and p["n_lines"] == 4
    assert [e["line"] for e in p["entries"]] == [1, 2, 3, 4]
    assert [e["type"] for e in p["entries"]] == ["user", "assistant", "user", "summary"]
    assert [e["role"] for e in p["entries"]] == ["user", "assistant", "user", None]
    assert p["entries"][0]["content"] == [{"type": "text", "text": "Run gt prime and check your hook."}]
    assert [b["type"] for b in p["entries"][1]["content"]] == ["thinking", "tool_use"]
    assert p["entries"][1]["model"] == "claude-x" and p["entries"][1]["parent_uuid"] == "u1"
    assert p["entries"][2]["content"][0]["tool_use_id"] == "t1"
    assert p["entries"][3]["content"] == [{"type": "text", "text": "Polecat ran its hook"}]


def test_home_projects_filtered_by_town_root(town, tmp_path):
    projects = tmp_path / "claude-home" / "projects"
    inside = str(town / "mayor")
    _session(projects / mangle_cwd(inside) / "s1.jsonl", inside, session_id="s1")
    _session(projects / mangle_cwd("/elsewhere/app") / "s2.jsonl", "/elsewhere/app", session_id="s2")
    lookalike = str(town) + "-old/gastown/crew/max"   # mangles with the town root as prefix
    _session(projects / mangle_cwd(lookalike) / "s3.jsonl", lookalike, session_id="s3")
    result = collect_town(town)
    sessions = {r.payload["session_id"]: r for r in result.records if r.kind == "transcript"}
    assert set(sessions) == {"s1"}
    assert sessions["s1"].provenance.role == "mayor"
    assert last_skip_counts()["transcript outside town"] == 1


def test_transcript_dirs_take_every_jsonl(town, tmp_path):
    extra = tmp_path / "exported"
    cwd = str(town / "gastown" / "witness")
    _session(extra / "a" / "one.jsonl", cwd, session_id="one")
    _session(extra / "two.jsonl", "/other/machine/gt/gastown/refinery/rig", session_id="two")
    result = collect_town(town, transcript_dirs=[extra])
    roles = {r.payload["session_id"]: (r.provenance.rig, r.provenance.role)
             for r in result.records if r.kind == "transcript"}
    assert roles == {"one": ("gastown", "witness"), "two": ("gastown", "refinery")}


def test_bad_line_quarantined_session_kept(town):
    cwd = str(town / "gastown" / "polecats" / "toast")
    path = _session(town / ".claude" / "projects" / "p" / f"{UUID}.jsonl", cwd)
    with open(path, "a") as fh:
        fh.write('{"type": "assistant", "message": {"content": [{"type": "text", "text": "cut of')
    result = collect_town(town)
    (rec,) = [r for r in result.records if r.kind == "transcript"]
    assert len(rec.payload["entries"]) == 4 and rec.payload["n_lines"] == 5
    (q,) = result.quarantine
    assert q.position == "line 5" and "invalid JSON" in q.reason and "truncated" in q.reason
    assert q.source_kind == "transcript"


@pytest.mark.parametrize("rel,text,expected", [
    ("gastown/polecats/toast", "", ("gastown", "polecat")),
    ("gastown/polecats/toast/gastown/internal", "", ("gastown", "polecat")),
    ("gastown/crew/max", "", ("gastown", "crew")),
    ("gastown/witness", "", ("gastown", "witness")),
    ("gastown/refinery/rig", "", ("gastown", "refinery")),
    ("gastown/mayor/rig", "", ("gastown", "mayor")),
    ("deacon/dogs/alpha", "", (None, "dog")),
    ("deacon/dogs/boot", "", (None, "boot")),
    ("deacon", "", (None, "deacon")),
    ("mayor", "", (None, "mayor")),
    ("", "[GAS TOWN] deacon <- daemon • patrol: mol-deacon-patrol", (None, "deacon")),
    ("", "hello, what is the status?", (None, None)),
    ("gastown", "", ("gastown", None)),
])
def test_role_from_cwd_anchored_at_town(rel, text, expected):
    root = Path("/home/me/gt")
    cwd = str(root / rel) if rel else str(root)
    assert role_from_cwd(cwd, root, text) == expected


def test_role_from_cwd_without_town_root():
    assert role_from_cwd("/srv/gt/beads/polecats/obsidian/beads") == ("beads", "polecat")
    assert role_from_cwd("/srv/gt/deacon/dogs/rex") == (None, "dog")
    assert role_from_cwd("/home/me/code/project") == (None, None)
    assert role_from_cwd(None) == (None, None)


def test_mangle_matches_claude_code_layout():
    assert mangle_cwd("/home/me/gt/gastown/crew/max") == "-home-me-gt-gastown-crew-max"
    assert mangle_cwd("/home/me/.config/x_y") == "-home-me--config-x-y"
