"""``gt-model`` end to end through ``main(argv)``: tables, ``--json``, exit codes."""

import json
import re

import pytest

from node0_ops.registry.cli import main


@pytest.fixture
def run(state, sample_town, capsys):
    (sample_town / "settings" / "node0-rollout.yaml").write_text("stage: 3\n")

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["--state-dir", str(state), "--town", str(sample_town), *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def _columns_aligned(text: str, header: str) -> None:
    lines = text.splitlines()
    h = next(i for i, line in enumerate(lines) if line.lstrip().startswith(header))
    rows = [line for line in lines[h + 1:] if line.strip()][:3]
    starts = [m.start() for m in re.finditer(r"(?<=  )\S", lines[h])]
    for row in rows:
        if row.startswith("  ") and not row.startswith("Use") and len(row) > starts[-1]:
            for s in starts[1:]:
                assert row[s - 1] == " " and row[s] != " ", (row, s)


def test_list_show_adapters_tables_and_json(run, make_model):
    make_model("polecat", task_adapter=True)
    make_model("polecat", good=False)
    assert run("set-status", "polecat-v1", "active")[0] == 0
    code, out, _ = run("list")
    assert code == 0 and out.startswith("Models\n")
    assert "● polecat-v1" in out and "○ polecat-v2" in out
    assert "2 models: 1 active, 1 candidate, 0 archived" in out
    _columns_aligned(out, "NAME")
    code, out, _ = run("list", "--json")
    data = json.loads(out)
    assert [m["name"] for m in data["models"]] == ["polecat-v2", "polecat-v1"]
    code, out, _ = run("--json", "show", "polecat-v1")
    shown = json.loads(out)
    assert shown["ref"] == "polecat-v1@1" and shown["gguf_path"].endswith("q4_k_m.gguf")
    assert "task-git-workflow" in shown["adapters"]
    code, out, _ = run("show", "polecat")
    assert out.startswith("● polecat-v1@1") and "Eval scores:" in out and "bead-management" in out
    assert "gguf_q4_k_m" in out and "Artifacts:" in out
    code, out, _ = run("adapters")
    assert "task-git-workflow" in out and "polecat-v1" in out
    assert json.loads(run("adapters", "--json")[1])["adapters"][0]["name"] == "role-polecat"


def test_deploy_refused_forced_and_rollback(run, make_model, sample_town):
    make_model("polecat", good=False)
    code, out, err = run("deploy", "polecat-v1", "--rig", "gastown", "--role", "polecat")
    assert code == 1 and "refused" in err and "bead-management" in err
    code, out, err = run("deploy", "polecat-v1", "--rig", "gastown", "--role", "polecat", "--force")
    assert code == 1 and "--reason" in err
    code, out, _ = run("deploy", "polecat-v1", "--rig", "gastown", "--role", "polecat", "--force",
                       "--reason", "hotfix gt-abc12", "--json")
    res = json.loads(out)
    assert code == 0 and res["forced"] and res["reason"] == "hotfix gt-abc12"
    assert res["entry"]["args"] == ["--model", "polecat-v1@1", "--role", "polecat", "--prime", "compact", "--intake"]
    settings = json.loads((sample_town / "gastown/settings/config.json").read_text())
    assert settings["role_agents"]["polecat"] == "node0-polecat"
    code, out, _ = run("history")
    assert "deploy" in out and "force" in out and "hotfix gt-abc12" in out
    code, out, _ = run("rollback", "polecat", "--rig", "gastown")
    assert code == 0 and out.startswith("✓ Rolled back polecat in rig gastown: polecat-v1@1 → claude-sonnet")
    settings = json.loads((sample_town / "gastown/settings/config.json").read_text())
    assert settings["role_agents"]["polecat"] == "claude-sonnet" and "agents" not in settings
    code, out, _ = run("rollback", "polecat", "--rig", "gastown", "--json")
    assert code == 1 and "no deploy of polecat" in json.loads(out)["error"]


def test_deploy_needs_exactly_one_target(run, make_model):
    make_model("deacon")
    with pytest.raises(SystemExit) as exc:
        run("deploy", "deacon", "--role", "deacon")
    assert exc.value.code == 2
    code, out, _ = run("deploy", "deacon", "--town", "--role", "deacon")
    assert code == 0 and "✓ Deployed deacon in the town: claude-sonnet → deacon-v1@1" in out


def test_prune_dry_run_and_real(run, make_model, db):
    for _ in range(3):
        make_model("polecat", size=1000)
    code, out, _ = run("prune", "polecat", "--keep", "1", "--dry-run")
    assert code == 0 and "dry run" in out and "polecat-v1@1" in out and "Would free" in out
    dry = json.loads(run("prune", "polecat", "--keep", "1", "--dry-run", "--json")[1])
    assert dry["dry_run"] and dry["freed_bytes"] > 0
    real = json.loads(run("prune", "polecat", "--keep", "1", "--json")[1])
    assert real["freed_bytes"] == dry["freed_bytes"] and not real["dry_run"]
    assert json.loads(run("prune", "polecat", "--keep", "1", "--json")[1])["freed_bytes"] == 0


def test_diff_table_and_default_b(run, make_model):
    make_model("polecat", hyper={"lora_rank": 8})
    make_model("polecat", hyper={"lora_rank": 16}, good=False)
    code, out, _ = run("diff", "polecat-v1", "polecat-v2")
    assert code == 0 and out.startswith("Diff polecat-v1@1 → polecat-v2@2")
    assert re.search(r"hyper\.lora_rank\s+8\s+16", out)
    assert re.search(r"category:bead-management\s+1\.00\s+0\.25\s+-0\.75", out)
    d = json.loads(run("diff", "polecat-v1", "--json")[1])  # B defaults to the newest version
    assert d["b"] == "polecat-v2@2" and d["hyperparameters"]["lora_rank"] == {"a": 8, "b": 16}


def test_rollout_and_formulas_commands(run, sample_town):
    code, out, _ = run("rollout")
    assert "stage 3 of 4" in out and re.search(r"● polecat\s+3\s+open", out) and re.search(r"○ crew\s+4\s+closed", out)
    assert re.search(r"○ mayor\s+-\s+blocked", out) and re.search(r"○ refinery\s+-\s+not staged", out)
    assert json.loads(run("rollout", "--json")[1])["open"] == ["deacon", "boot", "witness", "polecat"]
    code, out, _ = run("formulas", "install")
    assert code == 0 and "✓ train-role-model.formula.toml" in out
    assert (sample_town / ".beads/formulas/train-role-model.formula.toml").is_file()
    assert json.loads(run("formulas", "install", "--json")[1])["files"]["eval-suite.formula.toml"] == "unchanged"
    code, out, _ = run("formulas", "validate")
    assert code == 0 and out.count("✓") == 3


def test_register_command(run, state, tmp_path):
    art = state / "artifacts" / "exports" / "m.gguf"
    art.parent.mkdir(parents=True)
    art.write_bytes(b"g" * 64)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"overall": {"n": 10, "passed": 7, "rate": 0.7, "mean_score": 0.7}}))
    code, out, _ = run("register", "witness", "--base", "smollm2-135m", "--artifact", f"q4_k_m={art}",
                       "--eval-report", str(report), "--corpus-version", "cv-9", "--json")
    assert code == 0 and json.loads(out) == {"registered": "witness-v1@1", "status": "candidate"}
    shown = json.loads(run("show", "witness-v1", "--json")[1])
    assert shown["eval_score"] == 0.7 and shown["artifacts"]["gguf_q4_k_m"]["bytes"] == 64
    code, _, err = run("register", "witness", "--base", "b", "--artifact", "no-equals-sign")
    assert code == 1 and "KIND=PATH" in err


def test_jobs_command_lists_offline_transitions(run, db, monkeypatch):
    from node0_ops.registry.beads import TrainingJob

    monkeypatch.setenv("PATH", "/nonexistent")
    job = TrainingJob(db, "Train polecat role model", echo=lambda s: None)
    job.start()
    code, out, _ = run("jobs", "--pending")
    assert code == 0 and job.job_id in out and "pending" in out and "bd update" in out
    rows = json.loads(run("jobs", "--json")[1])["transitions"]
    assert [r["seq"] for r in rows] == [1, 2] and {r["kind"] for r in rows} == {"role"}
