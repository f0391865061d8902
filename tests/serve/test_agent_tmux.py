"""The terminal agent end to end in a real tmux session (private tmux socket), the way a town's
``node0-<role>`` entry runs it: start it in a pane, push text with ``send-keys``, read the pane."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.serve.helpers import Tmux

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tmux(tmp_path):
    if not shutil.which("tmux") and not Path("/usr/bin/tmux").exists():
        pytest.skip("tmux is not installed")
    t = Tmux(tmp_path)
    yield t
    t.close()


@pytest.fixture
def workspace(tmp_path, sample_town):
    """A polecat worktree inside a copy of the sample town, plus the env Gas Town would set."""
    work = sample_town / "gastown" / "polecats" / "toast"
    work.mkdir(parents=True)
    (work / "README.md").write_text("toast's worktree\n")
    env = {"GT_ROOT": str(sample_town), "GT_ROLE": "gastown/polecats/toast", "GASTOWN_FT_HOME": str(tmp_path / "state"),
           "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TERM": "xterm"}
    return work, env, tmp_path / "transcripts"


def agent_cmd(*args: str) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in [sys.executable, "-m", "node0_ops.serve.cli", *args])


def read_transcript(folder: Path) -> list[dict]:
    files = list(folder.glob("*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def test_echo_script_agent_runs_refuses_and_exits(tmux, workspace, tmp_path):
    work, env, tdir = workspace
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([
        "I'll look at the worktree, then stop the stuck polecat.\n```bash\nls\npkill -f polecat\n```",
        "The worktree has README.md. I did not kill anything: that is the witness's job via gt.",
    ]))
    tmux.start("gt-toast", agent_cmd("--backend", "echo-script", "--script", str(script), "--no-rag",
                                     "--transcript-dir", str(tdir)), work, env)
    tmux.wait_for("gt-toast", "node0> ", 120)
    tmux.send("gt-toast", "[GAS TOWN] toast <- witness: Check your hook for work assignments.")
    pane = tmux.wait_for("gt-toast", "node0> ", 60, count=2)
    assert "role polecat" in pane                     # role from GT_ROLE
    assert "$ ls" in pane and "README.md" in pane and "[exit 0]" in pane
    assert "$ pkill -f polecat" in pane and "! refused: pkill:" in pane
    assert "I did not kill anything" in pane
    tmux.send("gt-toast", "/exit")
    tmux.wait_for("gt-toast", "AGENT-EXITED-0", 30)

    lines = read_transcript(tdir)
    assert lines[0]["message"]["content"][0]["text"].startswith("[GAS TOWN] toast <- witness")
    results = [b for x in lines for b in x["message"]["content"] if b["type"] == "tool_result"]
    assert [r["is_error"] for r in results] == [False, True] and "refused: pkill" in results[1]["content"]
    assert all(x["cwd"] == str(work) for x in lines)


@pytest.mark.native  # loads llama.cpp here too: runs in a child pytest (tests/native_isolation.py)
def test_real_model_agent_answers_in_tmux_and_exits_on_eof(tmux, workspace, gguf):
    """SmolLM2 GGUF in the pane: the pane and the transcript show the greedy answer this process computes too."""
    from node0_ops.serve.agent import INSTRUCTIONS
    from node0_ops.serve.engine import LlamaEngine
    from node0_ops.serve.models import spec_from_paths
    from node0_ops.serve.prime import compact_context
    from node0_ops.serve.prompting import extract_tool_calls
    from node0_ops.serve.serve_config import ServeConfig

    work, env, tdir = workspace
    ask = "Say hello to the mayor in one short sentence."
    tmux.start("gt-toast", agent_cmd("--model-path", str(gguf), "--role", "polecat", "--no-rag", "--max-tokens", "24",
                                     "--max-steps", "1", "--n-ctx", "2048", "--transcript-dir", str(tdir)), work, env)
    tmux.wait_for("gt-toast", "node0> ", 180)
    tmux.send("gt-toast", ask)
    pane = tmux.wait_for("gt-toast", "node0> ", 180, count=2)

    system = compact_context(Path(env["GT_ROOT"]), "polecat", ask, use_rag=False).text
    messages = [{"role": "system", "content": system + "\n\n" + INSTRUCTIONS.format(cwd=str(work))},
                {"role": "user", "content": ask}]
    engine = LlamaEngine(spec_from_paths(gguf), ServeConfig(n_ctx=2048))
    try:
        expected = engine.chat(messages, max_tokens=24).text
    finally:
        engine.close()
    prose = extract_tool_calls(expected)[1]
    assert prose
    assert prose.splitlines()[0].strip() in pane

    lines = read_transcript(tdir)
    assistant = [x for x in lines if x["type"] == "assistant"][0]
    assert assistant["message"]["content"][0]["text"] == prose
    assert assistant["message"]["model"] == "SmolLM2-135M-Instruct.Q4_1"

    tmux.run("send-keys", "-t", "gt-toast", "C-d")
    pane = tmux.wait_for("gt-toast", "AGENT-EXITED-0", 30)
    assert "bye (end of input)" in pane
