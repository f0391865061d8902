"""``gt-model hooks``: node0-intake as the SessionEnd hook of a town's Claude Code settings (sample town copy)."""

import json
from pathlib import Path

from node0_ops.registry.cli import main
from node0_ops.registry.hooks import intake_command

MAYOR = Path("mayor") / ".claude" / "settings.json"
OTHERS = {"editorMode": "normal", "hooks": {
    "SessionStart": [{"matcher": "", "hooks": [{"type": "command", "command": "gt prime --hook"}]}],
    "SessionEnd": [{"matcher": "", "hooks": [{"type": "command", "command": "gt costs record"}]}]}}


def _gt_model(capsys, *argv) -> tuple[int, dict]:
    code = main(["--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _session_end(path: Path) -> list[str]:
    doc = json.loads(path.read_text())
    return [h["command"] for e in doc.get("hooks", {}).get("SessionEnd", []) for h in e["hooks"]]


def test_install_twice_adds_one_hook_and_uninstall_keeps_the_others(sample_town, state, capsys):
    path = sample_town / MAYOR
    path.parent.mkdir(parents=True)
    original = json.dumps(OTHERS, indent=2) + "\n"
    path.write_text(original)
    place = ["--town", str(sample_town), "--state-dir", str(state)]
    ours = intake_command(state, sample_town)
    assert ours.split()[0].endswith("node0-intake") and f"--state-dir {state}" in ours

    code, res = _gt_model(capsys, "hooks", "install", *place)
    assert code == 0 and [(f["path"], f["action"]) for f in res["files"]] == [(str(path), "installed")]
    assert not (sample_town / ".claude" / "settings.json").exists()   # an existing role file is the target
    assert _session_end(path) == ["gt costs record", ours]
    doc = json.loads(path.read_text())
    assert doc["hooks"]["SessionEnd"][-1] == {"hooks": [{"type": "command", "command": ours}]}
    assert doc["hooks"]["SessionStart"] == OTHERS["hooks"]["SessionStart"] and doc["editorMode"] == "normal"
    installed = path.read_text()

    code, res = _gt_model(capsys, "hooks", "install", *place)
    assert code == 0 and res["files"][0]["action"] == "unchanged" and path.read_text() == installed

    code, res = _gt_model(capsys, "hooks", "status", *place)
    [row] = [f for f in res["files"] if f["path"] == str(path)]
    assert row["current"] and row["ours"] == [ours] and row["others"] == ["gt costs record"]

    code, res = _gt_model(capsys, "hooks", "install", "--collect", *place)   # new command: replaced in place
    assert res["files"][0]["action"] == "updated" and _session_end(path) == ["gt costs record", ours + " --collect"]

    code, res = _gt_model(capsys, "hooks", "uninstall", *place)
    assert code == 0 and res["files"][0]["action"] == "removed"
    assert path.read_text() == original   # only ours removed, every other byte as before
    code, res = _gt_model(capsys, "hooks", "uninstall", *place)
    assert res["files"][0]["action"] == "absent" and path.read_text() == original
    code, res = _gt_model(capsys, "hooks", "status", *place)
    assert [f["ours"] for f in res["files"] if f["path"] == str(path)] == [[]]


def test_town_without_claude_settings_gets_the_town_root_file(sample_town, state, capsys):
    place = ["--town", str(sample_town), "--state-dir", str(state)]
    root = sample_town / ".claude" / "settings.json"
    assert not root.exists()
    code, res = _gt_model(capsys, "hooks", "install", *place)
    assert code == 0 and res["files"] == [{"path": str(root), "action": "installed", "backup_path": None}]
    assert json.loads(root.read_text()) == {"hooks": {"SessionEnd": [
        {"hooks": [{"type": "command", "command": intake_command(state, sample_town)}]}]}}
    _gt_model(capsys, "hooks", "uninstall", *place)
    assert json.loads(root.read_text()) == {}


def test_wrongly_shaped_hooks_are_refused_naming_the_file(sample_town, state, capsys):
    path = sample_town / MAYOR
    path.parent.mkdir(parents=True)
    path.write_text('{"hooks": {"SessionEnd": {"command": "x"}}}\n')
    before = path.read_text()
    assert main(["hooks", "install", "--town", str(sample_town), "--state-dir", str(state)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "hooks.SessionEnd is a dict" in err and path.read_text() == before


def test_real_gastown_hook_template_round_trips(real_root, sample_town, state, capsys):
    """Gas Town's own autonomous Claude settings template (read in place, edited in a tmp copy)."""
    template = real_root / "gastown" / "internal" / "hooks" / "templates" / "claude" / "settings-autonomous.json"
    original = template.read_text()
    path = sample_town / "gastown" / "polecats" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(original)
    place = ["--town", str(sample_town), "--state-dir", str(state)]
    code, res = _gt_model(capsys, "hooks", "install", *place)
    assert code == 0 and [f["path"] for f in res["files"]] == [str(path)]   # the rig's polecats file
    doc, before = json.loads(path.read_text()), json.loads(original)
    assert {k: v for k, v in doc["hooks"].items() if k != "SessionEnd"} == before["hooks"]
    assert _session_end(path) == [intake_command(state, sample_town)]
    assert _gt_model(capsys, "hooks", "install", *place)[1]["files"][0]["action"] == "unchanged"
    _gt_model(capsys, "hooks", "uninstall", *place)
    assert path.read_text() == original
