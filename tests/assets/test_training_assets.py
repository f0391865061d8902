"""role_adapter, task_adapter and dpo_adapter materialize through Dagster (2 steps, in-process) with
lineage and a training-job bead that depends on the corpus-collection bead of the version they train on."""

import json
from pathlib import Path

import dagster as dg
import pytest

from resources import LineageResource, ScrubberResource, TownResource
from resources.trainer import TrainerResource
from resources.handles import HandleIOManager
from tests.graph_helpers import sources


@pytest.fixture(scope="module")
def corpus_state(tmp_path_factory, build_corpus):
    from node0_ops.registry.beads import corpus_job
    from node0_ops.registry.schema import registry_db

    town, state, version = build_corpus(tmp_path_factory.mktemp("train-assets"))
    # what the corpus_version asset does after building a version (tests/assets/test_corpus_assets.py):
    # its collection bead, and the materialization the training stages take their corpus version from
    corpus_job(registry_db(state), version, summary="sample town corpus", bd=None, echo=lambda s: None)
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization("corpus_version", metadata={"corpus_version": version}))
    return state, town, instance


def _trainer() -> TrainerResource:
    tiny = {"max_steps": 2, "max_seq_len": 128, "eval_every": 0, "checkpoint_every": 1,
            "gradient_accumulation_steps": 1, "lora.r": 4, "lora.lora_alpha": 8}
    return TrainerResource(mode="inprocess", sft=tiny, dpo={**tiny, "max_prompt_len": 96})


def _resources(state, town) -> dict:
    return {"io_manager": HandleIOManager(), "lineage": LineageResource(state_dir=str(state)), "trainer": _trainer(),
            "town": TownResource(root=str(town), state_dir=str(state)), "scrubber": ScrubberResource()}


def _job_argvs(state, job_id: str) -> list[list[str]]:
    from node0_ops.registry.beads import transitions
    from node0_ops.registry.schema import registry_db

    return [t["argv"] for t in transitions(registry_db(state), job_id)]


def _corpus_job(state) -> str:
    from node0_ops.corpus.store import latest_corpus_version
    from node0_ops.registry.beads import find_job
    from node0_ops.registry.schema import registry_db

    db = registry_db(state)
    return find_job(db, "corpus", latest_corpus_version(db))


def test_role_adapter_asset_trains_records_lineage_and_bead(corpus_state, monkeypatch):
    from gastown_assets.defs.training.assets import role_adapter
    from node0_ops.registry.beads import transitions
    from node0_ops.registry.schema import registry_db

    state, town, instance = corpus_state
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `bd` on PATH: transitions are recorded for replay
    res = dg.materialize([role_adapter, *sources("corpus_version")], partition_key="deacon", instance=instance, resources=_resources(state, town))
    assert res.success
    md = res.get_asset_materialization_events()[0].materialization.metadata
    adapter = Path(md["adapter_dir"].value)
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    meta = json.loads((adapter / "gastown_adapter.json").read_text())
    assert meta["corpus_version"] == md["corpus_version"].value
    # town-core mixture: deacon trains on its own rows plus other roles' conventions/bd/git rows, recorded in lineage
    counts = md["mixture_counts"].value
    assert any(k.startswith("deacon/") for k in counts) and any(k.startswith("core/") for k in counts)
    assert sum(counts.values()) == md["n_train"].value
    # each kept checkpoint is an observation of the adapter asset: step, train loss, path
    obs = [r.asset_observation for r in instance.fetch_observations(dg.AssetKey("role_adapter"), limit=10).records
           if r.asset_observation.metadata["run_id"].value == md["run_id"].value]
    assert md["checkpoints"].value == len(obs) >= 1
    for o in obs:
        assert o.partition == "deacon" and o.metadata["run_id"].value == md["run_id"].value
        assert Path(o.metadata["checkpoint"].value).name == f"step-{o.metadata['step'].value:06d}"
        assert o.metadata["train_loss"].value > 0
    assert meta["mixture"]["config"] == md["mixture_config"].value and meta["mixture"]["counts"] == counts
    db = registry_db(state)
    run = db.query("select status, role, corpus_version from train_runs where run_id = ?", [md["run_id"].value])[0]
    assert run == {"status": "completed", "role": "deacon", "corpus_version": meta["corpus_version"]}
    job_id = md["job_id"].value
    argvs = _job_argvs(state, job_id)
    # the job bead stays open after training: the eval gate closes it (or blocks it) once the model is registered
    assert argvs[0][:2] == ["bd", "create"] and not any(a[:2] == ["bd", "close"] for a in argvs)
    assert transitions(db, job_id)[-1]["status"] == "in_progress"
    # it depends on the corpus-collection bead of the version it trained on, and notes every checkpoint
    assert argvs[1] == ["bd", "dep", "add", "{bead_id}", "{bead:" + _corpus_job(state) + "}"]
    ckpt_notes = [a[-1] for a in argvs if a[-1].startswith("phase: checkpoint done")]
    assert len(ckpt_notes) == len(obs) and all("step=" in n and "train_loss=" in n for n in ckpt_notes)
    _assert_valid_offline(state, job_id)


def _assert_valid_offline(state, job_id: str) -> None:
    """Every recorded command, printed as the shell text an operator replays, passes the bd validator."""
    from node0_ops.evals.command_validator import validate
    from node0_ops.registry.beads import job_var, shell_line, transitions
    from node0_ops.registry.schema import registry_db

    for t in transitions(registry_db(state), job_id):
        line = shell_line(t["argv"], job_var(job_id))
        r = validate(line.split("=$(", 1)[1][:-1] if "=$(" in line else line)
        assert r.ok, (line, r.errors)


def _role_adapter_dir(instance) -> str | None:
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey("role_adapter"), asset_partitions=["deacon"])
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0].asset_materialization.metadata["adapter_dir"].value if records else None


def _register_role_model(state, adapter_dir: str, role: str) -> str:
    """Register a role adapter as a model of ``role`` (what registry_entry does after the gate)."""
    from node0_ops.registry import store as reg
    from node0_ops.registry.schema import registry_db

    return reg.register_model(registry_db(state), role, None, [{"path": adapter_dir, "kind": "role"}])


@pytest.mark.parametrize("asset_name, partition", [("task_adapter", None), ("dpo_adapter", "deacon")])
def test_stacked_adapter_is_trained_registered_and_its_bead_closed(corpus_state, monkeypatch, asset_name, partition):
    """Task and DPO runs are jobs too: bead created (depending on the corpus bead), checkpoint and train
    notes, then closed with the adapter registry ref, the adapter listed as compatible with the role's model."""
    from gastown_assets.defs.training import assets
    from node0_ops.corpus import store
    from node0_ops.registry import store as reg
    from node0_ops.registry.schema import registry_db

    state, town, instance = corpus_state
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if not _role_adapter_dir(instance):
        assert dg.materialize([assets.role_adapter, *sources("corpus_version")], partition_key="deacon", instance=instance,
                              resources=_resources(state, town)).success
    role_dir = _role_adapter_dir(instance)
    model = _register_role_model(state, role_dir, "deacon")
    run_config = None
    if partition is None:  # the task with the most deacon-compatible training rows
        db = registry_db(state)
        partition = db.scalar("select e.task from examples e join corpus_version_members m on m.item_id = e.example_id "
                              "where m.corpus_version = ? and e.split = 'train' group by e.task order by count(*) desc limit 1",
                              [store.latest_corpus_version(db)])
        run_config = {"ops": {"task_adapter": {"config": {"role": "deacon"}}}}
    upstream = ["role_adapter"]
    if asset_name == "dpo_adapter":  # the preference pairs are an asset of their own
        from gastown_assets.defs.corpus.assets import dpo_pairs

        assert dg.materialize([dpo_pairs, *sources("corpus_version")], partition_key=partition, instance=instance,
                              resources=_resources(state, town)).success
        upstream.append("dpo_pairs")
    res = dg.materialize([getattr(assets, asset_name), *sources(*upstream)], partition_key=partition, instance=instance,
                         resources=_resources(state, town), run_config=run_config)
    assert res.success
    md = res.get_asset_materialization_events()[0].materialization.metadata
    ref = md["adapter"].value
    row = reg.get_adapter(registry_db(state), ref)
    assert row["kind"] == ("task" if asset_name == "task_adapter" else "dpo")
    assert Path(row["path"]) == Path(md["adapter_dir"].value).resolve()
    assert reg.model_name("deacon", int(model.split("@")[1])) in row["compatible_models"]
    assert md["role_adapter"].value == role_dir  # stacked on the adapter role_adapter[deacon] recorded
    argvs = _job_argvs(state, md["job_id"].value)
    assert argvs[1] == ["bd", "dep", "add", "{bead_id}", "{bead:" + _corpus_job(state) + "}"]
    assert any(a[-1].startswith("phase: checkpoint done, step=") for a in argvs)
    assert argvs[-1] == ["bd", "close", "{bead_id}", "--reason", f"registered {ref} (adapter registry)"]
    _assert_valid_offline(state, md["job_id"].value)


def _stacked_handle(instance, asset_name: str, partition: str) -> bool:
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset_name), asset_partitions=[partition])
    return bool(instance.fetch_materializations(flt, limit=1).records)


def _model_resources(state, town) -> dict:
    from resources.evaluator import EvaluatorResource
    from resources.exporter import ExporterResource

    return {**_resources(state, town), "exporter": ExporterResource(quants=["f16"]),
            "evaluator": EvaluatorResource(limit=1, max_new_tokens=8, max_corpus_tasks=2)}


def _adapters_cli(state, town) -> str:
    import contextlib
    import io

    from node0_ops.registry.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--state-dir", str(state), "--town", str(town), "adapters"]) == 0
    return buf.getvalue()


def test_task_adapter_is_exported_evaluated_against_its_role_model_and_registered(corpus_state, monkeypatch):
    """task_adapter -> task_adapter_report: stacked merge + LoRA GGUFs, base + role vs base + role + task on
    the task's own cases (LoRA GGUFs stacked at load time), scores on the adapter's registry row."""
    from gastown_assets.defs.models.stacked import task_adapter_report
    from gastown_assets.defs.training import assets
    from node0_ops.evals import store as evals_store
    from node0_ops.evals.report import EvalReport
    from node0_ops.registry import store as reg
    from node0_ops.registry.schema import registry_db

    state, town, instance = corpus_state
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    task = "bead-management"
    if not _role_adapter_dir(instance):
        assert dg.materialize([assets.role_adapter, *sources("corpus_version")], partition_key="deacon",
                              instance=instance, resources=_resources(state, town)).success
    assert dg.materialize([assets.task_adapter, *sources("role_adapter")], partition_key=task, instance=instance,
                          resources=_resources(state, town),
                          run_config={"ops": {"task_adapter": {"config": {"role": "deacon"}}}}).success
    res = dg.materialize([task_adapter_report, *sources("task_adapter")], partition_key=task, instance=instance,
                         resources=_model_resources(state, town))
    assert res.success
    md = res.get_asset_materialization_events()[0].materialization.metadata
    db = registry_db(state)
    rep = evals_store.eval_report_row(db, md["report_id"].value)
    assert rep["kind"] == "task" and rep["task"] == task and rep["role"] == "deacon"
    assert "role adapter only" in rep["baseline_label"]
    cand, base = EvalReport.from_json(rep["report"]), EvalReport.from_json(rep["base_report"])
    assert len(cand.meta["adapters"]) == 2 and len(base.meta["adapters"]) == 1   # + task vs role alone
    assert cand.meta["adapters"][0] == base.meta["adapters"][0]
    assert {c.task_id for c in cand.cases} == {c.task_id for c in base.cases} and cand.cases
    assert all(c.category == task for c in cand.cases)          # the task's own cases only
    row = reg.get_adapter(db, md["adapter"].value)
    assert row["kind"] == "task" and row["eval_report_id"] == rep["report_id"]
    assert row["eval_score"] == pytest.approx(cand.overall.rate) and row["baseline_score"] == pytest.approx(base.overall.rate)
    assert row["gguf_path"].endswith(".lora.gguf") and Path(row["gguf_path"]).exists()
    export = evals_store.export_row(db, row["export_dir"])
    assert export["adapter_dir"] == str(Path(row["path"])) or Path(export["adapter_dir"]).resolve() == Path(row["path"])
    assert Path(export["result"]["ggufs"]["f16"]).exists()      # the stacked merge, deployable alone
    listed = _adapters_cli(state, town)
    assert row["name"] in listed and f"{row['eval_score']:.2f} ({row['eval_score'] - row['baseline_score']:+.2f})" in listed


def test_dpo_stage_becomes_a_registered_model_version_carrying_role_and_dpo_adapters(corpus_state, monkeypatch):
    """dpo_pairs -> dpo_adapter -> dpo_model: a candidate version of the role model whose stack is role + DPO,
    judged against the SFT-only role model; the pairs are an asset with per-split JSONL."""
    from gastown_assets.defs.corpus.assets import dpo_pairs
    from gastown_assets.defs.models.stacked import dpo_model
    from gastown_assets.defs.training import assets
    from node0_ops.evals import store as evals_store
    from node0_ops.registry import store as reg
    from node0_ops.registry.schema import registry_db

    state, town, instance = corpus_state
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if not _role_adapter_dir(instance):
        assert dg.materialize([assets.role_adapter, *sources("corpus_version")], partition_key="deacon",
                              instance=instance, resources=_resources(state, town)).success
    pairs = dg.materialize([dpo_pairs, *sources("corpus_version")], partition_key="deacon", instance=instance,
                           resources=_resources(state, town))
    assert pairs.success
    pmd = pairs.get_asset_materialization_events()[0].materialization.metadata
    lines = (Path(pmd["path"].value) / "train.jsonl").read_text().splitlines()
    assert len(lines) == pmd["n_train"].value > 0 and set(json.loads(lines[0])) >= {"prompt", "chosen", "rejected"}
    assert dg.materialize([assets.dpo_adapter, *sources("role_adapter", "dpo_pairs")], partition_key="deacon",
                          instance=instance, resources=_resources(state, town)).success
    res = dg.materialize([dpo_model, *sources("dpo_adapter")], partition_key="deacon", instance=instance,
                         resources=_model_resources(state, town))
    assert res.success
    md = res.get_asset_materialization_events()[0].materialization.metadata
    db = registry_db(state)
    model = reg.get_model(db, md["model"].value)
    kinds = [reg.get_adapter(db, a)["kind"] for a in model["adapters"]]
    assert model["status"] == "candidate" and model["role"] == "deacon" and kinds == ["role", "dpo"]
    dpo = reg.get_adapter(db, model["adapters"][1])
    assert reg.model_name("deacon", model["version"]) in dpo["compatible_models"]
    assert Path(reg.get_adapter(db, model["adapters"][0])["path"]) == Path(_role_adapter_dir(instance)).resolve()
    rep = evals_store.eval_report_row(db, md["report_id"].value)
    assert rep["kind"] == "dpo" and rep["model_label"] == md["model"].value and dpo["eval_report_id"] == rep["report_id"]
    assert model["eval_score"] == pytest.approx(rep["overall"])
