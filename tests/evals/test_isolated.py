"""The eval backend in a child process: answers like in-process, and a native crash (SIGSEGV) of the
child becomes BackendCrash / a dg.Failure naming the model, the settings, the signal and the fix."""

import json
import sys

import dagster as dg
import pytest

from node0_ops.evals import isolated
from node0_ops.evals.isolated import BackendCrash, BackendDied, BackendSpec, IsolatedBackend
from node0_ops.evals.runner import run_suite
from node0_ops.evals.tasks import load_suite
from node0_ops.models.llama_open import ENV_VAR

SEGV_AT_START = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
# ready, answer one request, then die by SIGSEGV on the second (a crash in the middle of an eval)
SEGV_ON_SECOND = [sys.executable, "-c", (
    "import json, os, signal, sys\n"
    "print(json.dumps({'event': 'ready', 'meta': {}}), flush=True)\n"
    "sys.stdin.readline(); print(json.dumps({'text': 'ok'}), flush=True)\n"
    "sys.stdin.readline(); sys.stderr.write('about to crash\\n'); sys.stderr.flush()\n"
    "os.kill(os.getpid(), signal.SIGSEGV)\n")]
EXIT_3 = [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A stand-in model file; the crashed children's kept log folders go under ``tmp_path``, not /tmp."""
    import tempfile

    (tmp_path / "children").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "children"))
    p = tmp_path / "model-q4_k_m.gguf"
    p.write_bytes(b"GGUF")
    return p


def _tasks(n=3):
    return [t for t in load_suite("v1") if t.checker != "code_exec"][:n]


def test_sigsegv_at_start_names_signal_model_settings_and_fix(fake_gguf, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")
    with pytest.raises(BackendCrash) as ei:
        IsolatedBackend(BackendSpec("gguf", fake_gguf), worker_cmd=SEGV_AT_START)
    exc = ei.value
    msg = str(exc)
    assert exc.signal_name == "SIGSEGV" and exc.returncode == -11
    assert "SIGSEGV" in msg and str(fake_gguf) in msg and "use_extra_bufts=True" in msg
    assert f"{ENV_VAR}=0" in msg and exc.settings["llama_settings"]["use_extra_bufts"] is True


def test_crash_mid_eval_is_not_swallowed_as_a_failed_case(fake_gguf, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "0")
    gen = IsolatedBackend(BackendSpec("gguf", fake_gguf), worker_cmd=SEGV_ON_SECOND)
    try:
        with pytest.raises(BackendCrash, match="SIGSEGV") as ei:
            run_suite(gen, _tasks(3), constrained=False)
    finally:
        gen.close()
    assert "about to crash" in ei.value.log_tail
    assert "already off" in ei.value.hint  # GTFT_LLAMA_EXTRA_BUFTS=0 was in force: a different hint


def test_plain_exit_is_backend_died_with_log_tail(fake_gguf):
    with pytest.raises(BackendDied) as ei:
        IsolatedBackend(BackendSpec("gguf", fake_gguf), worker_cmd=EXIT_3)
    assert not isinstance(ei.value, BackendCrash) and ei.value.returncode == 3 and "boom" in str(ei.value)


def test_missing_model_and_bad_kind_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        IsolatedBackend(BackendSpec("gguf", tmp_path / "nope.gguf"))
    with pytest.raises(ValueError, match="gguf"):
        BackendSpec("onnx", "m")


def test_evaluator_resource_turns_sigsegv_into_dg_failure(fake_gguf, monkeypatch):
    from resources.evaluator import EvaluatorResource

    monkeypatch.setattr(isolated, "WORKER_CMD", SEGV_AT_START)
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(dg.Failure) as ei:
        EvaluatorResource().run(str(fake_gguf), _tasks(2), label="node0-polecat")
    f = ei.value
    assert "SIGSEGV" in f.description and str(fake_gguf) in f.description and ENV_VAR in f.description
    meta = {k: v.value if hasattr(v, "value") else v for k, v in f.metadata.items()}
    assert meta["signal"] == "SIGSEGV" and meta["model_file"] == str(fake_gguf)
    assert "use_extra_bufts" in json.dumps(meta["backend_settings"]) and ENV_VAR in meta["fix_hint"]


@pytest.mark.slow
def test_real_gguf_in_the_child_answers_and_records_settings():
    pytest.importorskip("llama_cpp")
    from node0_ops.models.base import preset_gguf
    from node0_ops.models.llama_open import llama_settings

    try:
        path = preset_gguf("smollm2-135m")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    tasks = {t.task_id: t for t in load_suite("v1")}
    chosen = [tasks["patrol-002"], tasks["conv-005"]]
    with IsolatedBackend(BackendSpec("gguf", path, n_ctx=2048, max_new_tokens=24, structured_max_new_tokens=96)) as gen:
        assert gen.meta["llama_settings"] == llama_settings().to_dict()
        assert gen.proc.pid != __import__("os").getpid()
        rep = run_suite(gen, chosen, constrained=True)
        assert isinstance(gen.last_hit_max_tokens, bool)
    assert gen.proc.returncode == 0
    assert rep.overall.n == 2 and all(not any("generation failed" in e for e in c.errors) for c in rep.cases)
    json.loads(rep.cases[0].answer)  # grammar-constrained in the child


def test_node0_eval_cli_reports_a_crashed_child_and_exits_3(fake_gguf, monkeypatch, capsys):
    from node0_ops.evals import cli

    monkeypatch.setattr(isolated, "WORKER_CMD", SEGV_ON_SECOND)
    monkeypatch.delenv(ENV_VAR, raising=False)
    code = cli.main(["run", "--model-path", str(fake_gguf), "--category", "conventions", "--constrained", "off", "-q"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("node0-eval: error:") and "SIGSEGV" in err and str(fake_gguf) in err and "use_extra_bufts=" in err
