"""node0-eval CLI with a fake backend: model resolution, tables/JSON, gate exit codes, compare."""

import json

import pytest

from node0_ops.evals import cli
from node0_ops.evals.tasks import load_suite

FAST = [t for t in load_suite("v1") if t.checker != "code_exec"]
BY_PROMPT = {t.messages[-1]["content"]: t for t in load_suite("v1")}


def _oracle(messages, schema):
    return BY_PROMPT[messages[-1]["content"]].reference


def _nothing(messages, schema):
    return "I am not sure."


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture
def fake_backend(monkeypatch):
    box = {"gen": _oracle, "calls": []}

    def make(spec, backend, max_new_tokens, threads):
        box["calls"].append((spec, backend, max_new_tokens))
        return backend or "gguf", box["gen"]
    monkeypatch.setattr(cli, "make_backend", make)
    return box


def test_run_prints_tables_and_saves(fake_backend, gguf, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = cli.main(["run", "--model-path", str(gguf), "--category", "patrol-decision", "--category", "bead-management",
                     "--out", str(out), "-q", "--max-new-tokens", "64"])
    assert code == 0
    text = capsys.readouterr().out
    assert "(unconstrained)" in text and "(constrained)" in text
    assert "structured tasks: unconstrained vs constrained decoding" in text
    saved = json.loads(out.read_text())
    assert saved["unconstrained"]["overall"]["rate"] == 1.0
    assert {c["category"] for c in saved["constrained"]["cases"]} == {"patrol-decision"}
    spec, backend, budget = fake_backend["calls"][0]
    assert spec["gguf_path"] == str(gguf) and budget == 64


def test_run_json_and_gate(fake_backend, gguf, capsys):
    code = cli.main(["run", "--model-path", str(gguf), "--role", "witness", "--constrained", "off", "--json",
                     "--gate-role", "witness", "-q"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["gate"]["passed"] and "cases" not in data["unconstrained"]
    fake_backend["gen"] = _nothing
    code = cli.main(["run", "--model-path", str(gguf), "--role", "witness", "--constrained", "off", "--json",
                     "--gate-role", "witness", "-q", "--cases"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and not data["gate"]["passed"] and data["gate"]["reasons"]
    assert data["unconstrained"]["cases"][0]["answer"] == "I am not sure."


def test_compare_subcommand(fake_backend, gguf, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    cli.main(["run", "--model-path", str(gguf), "--category", "conventions", "--constrained", "off", "--out", str(a), "-q"])
    fake_backend["gen"] = _nothing
    cli.main(["run", "--model-path", str(gguf), "--category", "conventions", "--constrained", "off", "--out", str(b), "-q"])
    capsys.readouterr()
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "| category | conventions | 1.00" in out and "Regressions (" in out


def test_bad_arguments_exit_2(fake_backend, tmp_path, capsys, state):
    assert cli.main(["run", "--model-path", str(tmp_path / "missing")]) == 2
    assert "neither a .gguf file" in capsys.readouterr().err
    assert cli.main(["run", "--model-path", str(tmp_path), "--suite", "v999"]) == 2
    assert "eval suite 'v999' not found" in capsys.readouterr().err
    assert cli.main(["run", "--model", "no-such-model@7"]) == 2
    assert "model 'no-such-model@7' not found" in capsys.readouterr().err
    assert cli.main(["run"]) == 2


def test_model_spec_from_registry(monkeypatch, state):
    import node0_ops.registry.store as store

    monkeypatch.setattr(store, "resolve_model", lambda db, ref: {
        "gguf_path": "/m/polecat-q4.gguf", "hf_path": "/m/hf", "adapters": {"ops": {"peft": "/a/ops", "gguf": "/a/ops.gguf"}}})
    spec = cli.resolve_model_spec("polecat@3", None)
    assert spec["name"] == "polecat@3" and spec["gguf_path"] == "/m/polecat-q4.gguf"
    assert cli._adapter_paths(spec["adapters"], "gguf") == ["/a/ops.gguf"]
    assert cli._adapter_paths(spec["adapters"], "hf") == ["/a/ops"]
    with pytest.raises(SystemExit):
        cli._adapter_paths({"x": {"peft": "/a"}}, "gguf")


def test_model_spec_for_folders(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert cli.resolve_model_spec(None, str(hf)) == {"name": "hf", "gguf_path": None, "hf_path": str(hf), "adapters": []}
    (hf / "m.gguf").write_bytes(b"x")
    assert cli.resolve_model_spec(None, str(hf))["gguf_path"].endswith("m.gguf")


def test_rescore_subcommand(fake_backend, gguf, tmp_path, capsys):
    saved, again = tmp_path / "a.json", tmp_path / "b.json"
    cli.main(["run", "--model-path", str(gguf), "--category", "planning", "--out", str(saved), "-q"])
    assert cli.main(["rescore", str(saved), "--out", str(again)]) == 0
    data = json.loads(again.read_text())
    assert set(data) == {"unconstrained", "constrained"} and data["constrained"]["overall"]["rate"] == 1.0
