"""Registry store: versions, references, resolution, lineage, status, prune and diff."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from node0_ops.registry.artifacts import artifacts_from_export, hash_path, normalize_artifacts
from node0_ops.registry.store import (RegistryError, diff, get_model, lineage, list_adapters, list_models, parse_ref,
                                      prune, register_adapter, resolve_model, set_status)


def test_versions_count_up_per_role_and_start_as_candidates(db, make_model):
    assert make_model("polecat") == "polecat-v1@1"
    assert make_model("polecat") == "polecat-v2@2"
    assert make_model("witness") == "witness-v1@1"
    rows = list_models(db)
    assert [(m["name"], m["status"]) for m in rows] == [
        ("polecat-v2", "candidate"), ("polecat-v1", "candidate"), ("witness-v1", "candidate")]
    assert list_models(db, role="witness")[0]["role"] == "witness"


@pytest.mark.parametrize("ref,expected", [("polecat-v3", ("polecat", 3)), ("polecat@3", ("polecat", 3)),
                                          ("polecat-v3@3", ("polecat", 3)), ("polecat", ("polecat", None))])
def test_parse_ref_forms(ref, expected):
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["polecat-v3@4", "Polecat", "polecat v3", "", "polecat-v"])
def test_parse_ref_rejects_bad_forms(ref):
    with pytest.raises(RegistryError):
        parse_ref(ref)


def test_resolve_every_reference_form(db, make_model, state):
    make_model("polecat")
    make_model("polecat", task_adapter=True)
    for ref in ("polecat-v2", "polecat@2", "polecat-v2@2", "polecat"):  # no active: latest
        assert resolve_model(db, ref)["ref"] == "polecat-v2@2"
    set_status(db, "polecat-v1", "active")
    assert resolve_model(db, "polecat")["ref"] == "polecat-v1@1"  # active wins over latest
    r = resolve_model(db, "polecat-v2")
    assert r["gguf_path"].endswith("model-q4_k_m.gguf")  # q4_k_m preferred over f16
    assert Path(r["hf_path"]).name == "merged" and Path(r["hf_path"]).is_dir()
    assert r["chat_template"].startswith("{% for m in messages %}")
    assert set(r["adapters"]) == {"role-polecat", "task-git-workflow"}
    assert r["adapters"]["task-git-workflow"]["kind"] == "task"
    assert Path(r["adapters"]["role-polecat"]["peft"], "adapter_config.json").is_file()
    assert r["lora_rank"] == 8 and r["base"] == "smollm2-135m" and r["corpus_version"] == "cv-1"
    with pytest.raises(RegistryError, match="registered polecat models: polecat-v1, polecat-v2"):
        resolve_model(db, "polecat-v9")
    with pytest.raises(RegistryError, match="no crew model"):
        resolve_model(db, "crew")


def test_artifacts_hashed_and_sized(db, make_model):
    ref = make_model("polecat", size=1000)
    arts = get_model(db, ref)["artifacts"]
    assert set(arts) == {"gguf_f16", "gguf_q4_k_m", "hf"}  # exporter names canonicalized
    assert arts["gguf_q4_k_m"]["bytes"] == 1000 and arts["gguf_f16"]["bytes"] == 4000
    assert arts["hf"]["bytes"] == 1000 + 2
    assert arts["gguf_q4_k_m"]["sha256"] == hash_path(arts["gguf_q4_k_m"]["path"])[0]
    folder_sha = arts["hf"]["sha256"]
    Path(arts["hf"]["path"], "config.json").write_text('{"x": 1}')
    assert hash_path(arts["hf"]["path"])[0] != folder_sha  # folder hash follows its content


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        normalize_artifacts({"gguf_q4_k_m": tmp_path / "nope.gguf"})


def test_adapters_registered_once_per_weights_and_linked_to_models(db, make_model, state):
    make_model("polecat", task_adapter=True)
    make_model("polecat", task_adapter=True)
    rows = {(a["name"], a["version"]): a for a in list_adapters(db)}
    # each model wrote distinct role weights -> two versions; the task adapter bytes were identical -> one version
    assert ("role-polecat", 1) in rows and ("role-polecat", 2) in rows
    assert [k for k in rows if k[0] == "task-git-workflow"] == [("task-git-workflow", 1)]
    assert rows[("task-git-workflow", 1)]["compatible_models"] == ["polecat-v1", "polecat-v2"]
    assert rows[("role-polecat", 2)]["compatible_models"] == ["polecat-v2"]
    assert [a["name"] for a in list_adapters(db, task="git-workflow")] == ["task-git-workflow"]
    again = register_adapter(db, rows[("task-git-workflow", 1)]["path"])
    assert again == "task-git-workflow@1"


def test_lineage_joins_train_run_and_corpus(db, make_model):
    with db.write() as con:  # what the trainer and the corpus pipeline write
        con.execute("""insert into train_runs (run_id, kind, role, status, metrics)
                       values ('run-42', 'role', 'polecat', 'completed', '{"train_loss": 0.41}')""")
        con.execute("insert into corpus_versions (corpus_version, n_examples, n_pairs) values ('cv-1', 120, 7)")
    make_model("polecat", run_id="run-42")
    lin = lineage(db, "polecat-v1")
    run = lin["run"]
    assert (run["run_id"], run["status"], run["role"]) == ("run-42", "completed", "polecat")
    assert json.loads(run["metrics"]) == {"train_loss": 0.41}
    assert lin["corpus"]["n_examples"] == 120
    assert [a["name"] for a in lin["adapters"]] == ["role-polecat"]


def test_set_status_keeps_one_active_per_role(db, make_model):
    make_model("polecat")
    make_model("polecat")
    set_status(db, "polecat-v1", "active")
    set_status(db, "polecat-v2", "active")
    assert {m["name"]: m["status"] for m in list_models(db)} == {"polecat-v2": "active", "polecat-v1": "archived"}
    with pytest.raises(RegistryError, match="status 'live'"):
        set_status(db, "polecat-v1", "live")


def test_diff_reports_hyperparameters_corpus_eval_and_artifacts(db, make_model):
    make_model("polecat", hyper={"lora_rank": 8, "learning_rate": 2e-4}, corpus="cv-1", size=100)
    make_model("polecat", hyper={"lora_rank": 16, "learning_rate": 2e-4}, corpus="cv-2", size=300, good=False)
    d = diff(db, "polecat-v1", "polecat@2")
    assert (d["a"], d["b"]) == ("polecat-v1@1", "polecat-v2@2")
    assert d["hyperparameters"] == {"lora_rank": {"a": 8, "b": 16}}
    assert d["fields"]["corpus_version"] == {"a": "cv-1", "b": "cv-2"}
    assert d["fields"]["lora_rank"] == {"a": 8, "b": 16}
    assert d["eval"]["category:bead-management"] == {"a": 1.0, "b": 0.25, "delta": -0.75}
    assert d["eval"]["category:conventions"]["delta"] == 0.0
    assert d["artifacts"]["gguf_q4_k_m"]["bytes_a"] == 100 and d["artifacts"]["gguf_q4_k_m"]["bytes_b"] == 300
    assert d["adapters"]["added"] == ["role-polecat@2"] and d["adapters"]["removed"] == ["role-polecat@1"]
    assert diff(db, "polecat-v1", "polecat-v1")["eval"]["overall"]["delta"] == 0.0


def _paths(db, ref):
    return [Path(a["path"]) for a in get_model(db, ref)["artifacts"].values()]


def test_prune_dry_run_then_real(db, make_model, state):
    for _ in range(4):
        make_model("polecat", size=1000)
    set_status(db, "polecat-v1", "active")  # oldest is active: never pruned
    expected = sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                   for ref in ("polecat-v2", "polecat-v3") for p in _paths(db, ref))
    dry = prune(db, "polecat", keep=1, dry_run=True)
    assert [p["ref"] for p in dry["pruned"]] == ["polecat-v3@3", "polecat-v2@2"]
    assert dry["freed_bytes"] == expected
    assert all(p.exists() for ref in ("polecat-v2", "polecat-v3") for p in _paths(db, ref))  # dry run deletes nothing
    real = prune(db, "polecat-v4", keep=1)
    assert real["freed_bytes"] == expected and set(real["kept"]) == {"polecat-v1@1", "polecat-v4@4"}
    assert not any(p.exists() for ref in ("polecat-v2", "polecat-v3") for p in _paths(db, ref))
    assert all(p.exists() for ref in ("polecat-v1", "polecat-v4") for p in _paths(db, ref))
    v2 = get_model(db, "polecat-v2")
    assert v2["status"] == "archived" and all(a.get("pruned_at") for a in v2["artifacts"].values())
    assert prune(db, "polecat", keep=1)["freed_bytes"] == 0  # idempotent
    with pytest.raises(RegistryError, match="--keep -1"):
        prune(db, "polecat", keep=-1)


def test_prune_spares_deployed_and_outside_state(db, make_model, tmp_path):
    make_model("polecat")
    make_model("polecat", outside=tmp_path / "elsewhere")
    make_model("polecat")
    with db.write() as con:
        con.execute("update models set deployed_rigs = ['gastown'] where name = 'polecat-v1'")
    rep = prune(db, "polecat", keep=0)
    assert [p["ref"] for p in rep["pruned"]] == ["polecat-v3@3"]
    assert "polecat-v1@1" in rep["kept"]
    assert {s["why"].split(" ")[0] for s in rep["skipped"]} == {"outside"}
    assert all(p.exists() for p in _paths(db, "polecat-v2"))


@dataclass
class FakeExportResult:  # the exporter's ExportResult shape is theirs; we read it loosely
    merged_dir: Path
    gguf: dict
    lora_gguf: dict
    modelfile: Path
    sha256: dict


def test_artifacts_from_export_result(tmp_path):
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "model.safetensors").write_bytes(b"w" * 10)
    for name in ("f16.gguf", "q4.gguf", "lora.gguf", "Modelfile"):
        (tmp_path / name).write_bytes(b"x" * 3)
    res = FakeExportResult(tmp_path / "merged", {"f16": tmp_path / "f16.gguf", "q4_k_m": tmp_path / "q4.gguf"},
                           {"task-git-workflow": tmp_path / "lora.gguf"}, tmp_path / "Modelfile", {"modelfile": "ab" * 32})
    arts = artifacts_from_export(res)
    assert set(arts) == {"hf", "gguf_f16", "gguf_q4_k_m", "lora_gguf:task-git-workflow", "modelfile"}
    assert arts["modelfile"]["sha256"] == "ab" * 32  # given hashes are kept
    assert arts["hf"]["bytes"] == 10
    assert json.loads(json.dumps(arts))  # JSON-ready
