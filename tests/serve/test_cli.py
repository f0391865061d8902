"""``node0-inference`` CLI: dry runs, argument errors, and ``serve`` as a real process (SIGTERM stops it)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from node0_ops.serve.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_print_context_and_dry_run_load_no_model(sample_town, tmp_path, capsys, gguf):
    town = ["--town", str(sample_town), "--state-dir", str(tmp_path / "state")]
    assert main(["--backend", "echo-script", "--role", "witness", "--no-rag", "--print-context", *town]) == 0
    out = capsys.readouterr().out
    assert out.startswith("You are the Gas Town witness in rig `gastown`") and "When nudged: Run 'gt prime'" in out

    assert main(["--model-path", str(gguf), "--adapter-path", f"task-x={gguf}", "--adapters", "x:0.5",
                 "--role", "polecat", "--no-rag", "--dry-run", "--work-tree", str(tmp_path), *town]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out.split("\n--- system context ---")[0])
    assert plan["action"] == "agent" and plan["role"] == "polecat" and plan["work_tree"] == str(tmp_path)
    assert plan["model"]["gguf"] == str(gguf) and plan["model"]["default_stack"].endswith("+task-x:0.5")
    assert "## Directives (directives/polecat.md)" in out and "```bash block" in out

    assert main(["serve", "--model-path", str(gguf), "--adapter-path", f"task-x={gguf}", "--port", "0",
                 "--api-key", "k" * 12, "--dry-run", *town]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stacks"] == [Path(gguf).stem, Path(gguf).stem + "+task-x"] and out["config"]["api_key"] == "***"
    assert out["config"]["host"] == "127.0.0.1"


@pytest.mark.parametrize("argv, message", [
    (["--backend", "echo-script", "--role", "janitor", "--no-rag"], "--role 'janitor'"),
    (["serve", "--port", "0"], "give --model"),
    (["serve", "--model", "polecat@7"], "unknown model"),
    (["serve", "--model-path", "/nope/model.gguf"], "does not exist"),
    (["serve", "--model-path", "/nope/model.gguf", "--adapter-path", "broken"], "NAME=PATH"),
    (["--backend", "http", "--role", "polecat", "--no-rag"], "--server"),
])
def test_cli_errors_exit_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GASTOWN_FT_HOME", str(tmp_path / "state"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_role_from_gt_role_env(sample_town, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GT_ROLE", "webapp/refinery")
    assert main(["--backend", "echo-script", "--no-rag", "--print-context", "--town", str(sample_town),
                 "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("You are the Gas Town refinery")


def test_serve_process_answers_and_stops_on_sigterm(gguf, lora_ggufs, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "GASTOWN_FT_HOME": str(tmp_path / "state")}
    cmd = [sys.executable, "-m", "node0_ops.serve.cli", "serve", "--model-path", str(gguf), "--port", "0",
           "--n-ctx", "512", "--max-tokens", "4",
           *[x for name, path in lora_ggufs.items() for x in ("--adapter-path", f"{name}={path}")]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        line = ""
        deadline = time.monotonic() + 180
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "server exited early"
        url = line.rsplit(" on ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        for _ in range(100):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.ConnectError:
                time.sleep(0.2)
        ids = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
        stem = Path(gguf).stem
        assert f"{stem}+task-code-review+task-git-workflow" in ids and len(ids) == 4
        r = httpx.post(url + "/v1/chat/completions", timeout=120,
                       json={"model": f"{stem}+code-review", "messages": [{"role": "user", "content": "hi"}],
                             "temperature": 0})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 4
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    assert rc == 0
