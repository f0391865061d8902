"""A deployed ``node0-<role>`` agent starts with the compact prime: the entry deploy writes asks for it,
and the agent started with that entry's args answers Gas Town's ``gt prime`` with it instead of
loading the full prime (a stand-in ``gt`` on PATH records whether it ran)."""

import io
import json
import os

import pytest

from node0_ops.registry.deploy import deploy
from node0_ops.serve.cli import main as node0_inference

NUDGE = "Run 'gt prime' to check worker status and begin patrol cycle."   # the witness role's nudge


@pytest.fixture
def town(sample_town):
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 3\n")   # witness is open
    return sample_town


@pytest.fixture
def fake_gt(tmp_path, monkeypatch):
    """A ``gt`` whose ``prime`` prints a stand-in full prime and leaves a marker file."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "gt-prime-ran"
    bin_dir.mkdir()
    gt = bin_dir / "gt"
    gt.write_text(f'#!/bin/sh\ntouch "{marker}"\necho "FULL PRIME: 500 lines of role template"\n')
    gt.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return marker


def _run_entry(args: list[str], town, state, tmp_path, monkeypatch, capsys) -> tuple[str, list[dict]]:
    """Start the agent with the entry's args (a replayed script instead of ``--model``); returns
    (terminal output, tool results in its transcript)."""
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(["Priming first.\n```bash\ngt prime\n```", "Primed; checking my hook next."]))
    work, transcripts = tmp_path / "witness", tmp_path / f"transcripts-{len(list(tmp_path.glob('transcripts-*')))}"
    work.mkdir(exist_ok=True)
    model_at = args.index("--model")
    argv = args[:model_at] + args[model_at + 2:] + [
        "--backend", "echo-script", "--script", str(script), "--no-rag", "--town", str(town), "--state-dir", str(state),
        "--work-tree", str(work), "--transcript-dir", str(transcripts), NUDGE]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert node0_inference(argv) == 0
    lines = [json.loads(x) for p in transcripts.glob("*.jsonl") for x in p.read_text().splitlines()]
    results = [b for x in lines if x["type"] == "user" for b in x["message"]["content"]
               if isinstance(b, dict) and b.get("type") == "tool_result"]
    return capsys.readouterr().out, results


def test_deployed_entry_starts_from_the_compact_prime(db, make_model, town, state, tmp_path, fake_gt, monkeypatch,
                                                      capsys):
    make_model("witness")
    deploy(db, "witness-v1", town_root=town, rig="gastown", role="witness")
    entry = json.loads((town / "gastown" / "settings" / "config.json").read_text())["agents"]["node0-witness"]
    args = entry["args"]
    assert entry["command"] == "node0-inference" and args[args.index("--prime") + 1] == "compact"

    out, results = _run_entry(args, town, state, tmp_path, monkeypatch, capsys)
    assert not fake_gt.exists()   # the full gt prime never ran
    assert "[prime] compact: node0-inference prime --role witness" in out and "Primed; checking my hook" in out
    [result] = results
    assert "was not run" in result["content"] and "node0-inference prime --role witness" in result["content"]
    assert "FULL PRIME" not in result["content"] and not result["is_error"]

    full = [a if a != "compact" else "full" for a in args]   # the operator's switch back to gt prime
    out, results = _run_entry(full, town, state, tmp_path, monkeypatch, capsys)
    assert fake_gt.exists() and "FULL PRIME" in results[0]["content"]


@pytest.mark.parametrize("command, answered", [
    ("gt prime", True), ("gt prime --hook", True), ("gt  prime --explain", True),
    ("gt prime --hook && gt mail check --inject", False),   # a chain runs as written
    ("gt prime > /dev/null", False), ("gt hook", False), ("echo gt prime", False),
])
def test_which_commands_the_compact_prime_answers(command, answered, tmp_path):
    from node0_ops.serve.agent import is_prime_command
    from node0_ops.serve.agent_config import AgentConfig

    assert is_prime_command(command) is answered
    with pytest.raises(ValueError, match="use compact"):
        AgentConfig(role="witness", work_tree=str(tmp_path), prime="partial")
