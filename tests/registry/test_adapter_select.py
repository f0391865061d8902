"""Adapter stack from the bead: a slung bug bead switches a node0 agent's live stack to the mapped
task adapters, logged in its transcript; ``gt-model adapters --for BEAD`` says what and why."""

import json
from pathlib import Path

from node0_ops.registry.adapter_select import bead_ids, load_map, read_bead, select_adapters, stack_picker
from node0_ops.registry.cli import main
from node0_ops.serve.agent import TerminalAgent
from node0_ops.serve.agent_config import AgentConfig
from node0_ops.serve.models import AdapterSpec, ModelSpec
from node0_ops.serve.transcript import TranscriptWriter


def _town(tmp_path: Path) -> Path:
    town = tmp_path / "town"
    (town / "rig" / ".beads").mkdir(parents=True)
    (town / "settings").mkdir()
    beads = [{"id": "rg-b0g1", "title": "Login 500s", "issue_type": "bug", "labels": ["review"], "status": "open"},
             {"id": "rg-ep1c", "title": "Billing", "issue_type": "epic", "status": "open"}]
    (town / "rig" / ".beads" / "issues.jsonl").write_text("".join(json.dumps(b) + "\n" for b in beads))
    return town


class _Stacked:
    """Backend with a live ``stack`` (like LlamaBackend) that records what each call ran with."""

    def __init__(self):
        self.stack, self.calls = (), []

    def complete(self, messages):
        from node0_ops.serve.backends import Reply

        self.calls.append(self.stack)
        return Reply("On it.", {})

    def close(self):
        pass


def test_bug_bead_maps_to_review_and_git_adapters(tmp_path):
    town = _town(tmp_path)
    bead = read_bead("rg-b0g1", town_root=town, bd=None)
    assert bead["issue_type"] == "bug"
    pick = select_adapters(bead, load_map(town_root=town), {"task-code-review": "code-review", "task-git": "git-workflow"})
    assert pick.adapters == ["task-code-review", "task-git"] and "bug" in pick.why
    assert read_bead("rg-zzzz", town_root=town, bd=None) is None
    assert bead_ids("gt sling rg-b0g1 rig; also wa-f2h8.1") == ["rg-b0g1", "wa-f2h8.1"]


def test_slung_bead_switches_the_live_stack_and_logs_it(tmp_path):
    town = _town(tmp_path)
    (town / "settings" / "node0-adapters.yaml").write_text("types: {bug: [code-review], epic: [planning]}\n")
    spec = ModelSpec("deacon-v1", tmp_path / "m.gguf", adapters=[AdapterSpec("task-code-review", tmp_path / "a.gguf"),
                                                                 AdapterSpec("task-planning", tmp_path / "b.gguf")])
    backend = _Stacked()
    transcript = TranscriptWriter(tmp_path, directory=tmp_path / "tx")
    agent = TerminalAgent(backend, AgentConfig(role="polecat", work_tree=str(tmp_path), use_rag=False),
                          context_for=lambda q: "ctx", transcript=transcript, out=open("/dev/null", "w"),
                          pick_stack=stack_picker(spec, town_root=town, tasks={}, bd=None))
    agent.turn("You have work on your hook: rg-b0g1")
    agent.turn("Next: plan rg-ep1c")
    agent.turn("any update?")                      # no bead named: the stack stays
    assert backend.calls == [(("task-code-review", 1.0),), (("task-planning", 1.0),), (("task-planning", 1.0),)]
    notes = [json.loads(line) for line in transcript.path.read_text().splitlines() if '"system"' in line]
    assert len(notes) == 2 and "rg-b0g1 is a bug" in notes[0]["content"] and "task-code-review" in notes[0]["content"]


def test_cli_adapters_for_bead(tmp_path, capsys):
    town = _town(tmp_path)
    code = main(["--state-dir", str(tmp_path / "state"), "--town", str(town), "--json", "adapters", "--for", "rg-b0g1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["tasks"] == ["code-review", "git-workflow"] and out["adapters"] == []
    assert "no adapter for code-review, git-workflow" in out["why"]
    assert main(["--state-dir", str(tmp_path / "state"), "--town", str(town), "adapters", "--for", "rg-nope"]) == 1
