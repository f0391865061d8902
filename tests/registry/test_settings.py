"""Layout-preserving, atomic edits of Gas Town settings JSON."""

import json
import os

import pytest

from node0_ops.registry import settings as S
from node0_ops.registry.settings import DELETE, SettingsError, apply_edits, edit_settings

ENTRY = {"command": "node0-inference", "args": ["--model", "polecat-v3@3", "--role", "polecat"], "provider": "node0"}


def _changed_lines(old: str, new: str) -> tuple[set[str], set[str]]:
    a, b = old.splitlines(), new.splitlines()
    return set(a) - set(b), set(b) - set(a)


def test_splice_keeps_every_other_line_of_the_town_file(sample_town):
    text = (sample_town / "settings/config.json").read_text()
    new, doc = apply_edits(text, {("agents", "node0-polecat"): ENTRY, ("role_agents", "polecat"): "node0-polecat"})
    assert json.loads(new) == doc
    removed, added = _changed_lines(text, new)
    assert removed == {'    "polecat": "claude-sonnet",'}  # the only line that went away
    assert '      "args": ["--model", "polecat-v3@3", "--role", "polecat"],' in added  # inline arrays, like the file
    before = json.loads(text)
    assert {k: v for k, v in doc.items() if k not in ("agents", "role_agents")} == \
           {k: v for k, v in before.items() if k not in ("agents", "role_agents")}
    assert doc["agents"]["claude"] == before["agents"]["claude"]
    back, _ = apply_edits(new, {("agents", "node0-polecat"): DELETE, ("role_agents", "polecat"): "claude-sonnet"})
    assert back == text  # byte-identical round trip


def test_plain_json_dumps_style_is_kept(tmp_path):
    text = json.dumps({"type": "rig-settings", "version": 1, "role_agents": {"witness": "claude-haiku"}}, indent=2) + "\n"
    new, doc = apply_edits(text, {("agents", "node0-witness"): ENTRY, ("role_agents", "witness"): "node0-witness"})
    assert new == json.dumps(doc, indent=2) + "\n"  # a json.dumps file stays a json.dumps file


def test_missing_object_created_and_empty_object_filled():
    new, doc = apply_edits('{\n  "type": "rig-settings",\n  "agents": {}\n}\n', {("agents", "a"): {"command": "x"}})
    assert doc == {"type": "rig-settings", "agents": {"a": {"command": "x"}}}
    assert '  "agents": {\n    "a": {\n      "command": "x"\n    }\n  }' in new  # json.dumps-style file
    new, doc = apply_edits(new, {("role_agents", "polecat"): "a"})
    assert doc["role_agents"] == {"polecat": "a"} and new.rstrip().endswith("}")


def test_non_object_settings_refused(tmp_path):
    with pytest.raises(SettingsError, match="top level"):
        apply_edits("[1, 2]", {("agents", "x"): 1})
    bad = tmp_path / "config.json"
    bad.write_text("{ not json")
    with pytest.raises(SettingsError, match=str(bad)):
        edit_settings(bad, {("agents", "x"): 1})
    assert bad.read_text() == "{ not json"


def test_edit_backs_up_then_replaces(sample_town):
    path = sample_town / "settings/config.json"
    original = path.read_bytes()
    res = edit_settings(path, {("role_agents", "boot"): "node0-boot"})
    assert res.changed and res.backup_path.read_bytes() == original
    assert res.backup_path.parent.name == S.BACKUP_DIR
    assert json.loads(path.read_text())["role_agents"]["boot"] == "node0-boot"
    assert edit_settings(path, {("role_agents", "boot"): "node0-boot"}).changed is False  # no-op: no new backup


def test_crash_mid_write_leaves_original_intact(sample_town, monkeypatch):
    path = sample_town / "settings/config.json"
    original = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(S.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        edit_settings(path, {("role_agents", "boot"): "node0-boot"})
    assert path.read_bytes() == original
    leftovers = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # temp file cleaned up


def test_atomic_write_fsyncs_temp_in_same_dir(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(S.os, "replace", lambda a, b: (seen.append((os.path.dirname(a), os.path.dirname(b))), real_replace(a, b)))
    S.atomic_write(tmp_path / "x.json", "{}\n")
    assert seen == [(str(tmp_path), str(tmp_path))]
    assert (tmp_path / "x.json").read_text() == "{}\n"
