"""role_adapter materializes through Dagster (1 step, in-process) with lineage and a training-job bead."""

import json
from pathlib import Path

import dagster as dg
import pytest

from resources import LineageResource, ScrubberResource, TownResource
from resources.trainer import TrainerResource


@pytest.fixture(scope="module")
def corpus_state(tmp_path_factory, build_corpus):
    town, state, _ = build_corpus(tmp_path_factory.mktemp("train-assets"))
    return state, town


def test_role_adapter_asset_trains_records_lineage_and_bead(corpus_state, monkeypatch):
    from gastown_assets.defs.training.assets import role_adapter
    from node0_ops.registry.beads import transitions
    from node0_ops.registry.schema import registry_db

    state, town = corpus_state
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `bd` on PATH: transitions are recorded for replay
    trainer = TrainerResource(mode="inprocess", max_steps=2, max_seq_len=128, eval_every=0, checkpoint_every=1,
                              gradient_accumulation_steps=1, lora_r=4, lora_alpha=8)
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize([role_adapter], partition_key="deacon", instance=instance,
                         resources={"lineage": LineageResource(state_dir=str(state)), "trainer": trainer,
                                    "town": TownResource(root=str(town), state_dir=str(state)),
                                    "scrubber": ScrubberResource()})
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
    obs = [r.asset_observation for r in instance.fetch_observations(dg.AssetKey("role_adapter"), limit=10).records]
    assert md["checkpoints"].value == len(obs) >= 1
    for o in obs:
        assert o.partition == "deacon" and o.metadata["run_id"].value == md["run_id"].value
        assert Path(o.metadata["checkpoint"].value).name == f"step-{o.metadata['step'].value:06d}"
        assert o.metadata["train_loss"].value > 0
    assert meta["mixture"]["config"] == md["mixture_config"].value and meta["mixture"]["counts"] == counts
    db = registry_db(state)
    run = db.query("select status, role, corpus_version from train_runs where run_id = ?", [md["run_id"].value])[0]
    assert run == {"status": "completed", "role": "deacon", "corpus_version": meta["corpus_version"]}
    steps = [t["argv"][:2] for t in transitions(db)]
    # the job bead stays open after training: the eval gate closes it (or blocks it) once the model is registered
    assert steps[0] == ["bd", "create"] and ["bd", "close"] not in steps
    assert transitions(db)[-1]["status"] == "in_progress" and md["job_id"].value == transitions(db)[0]["job_id"]
    import shlex

    from node0_ops.evals.command_validator import validate

    create = next(t["argv"] for t in transitions(db) if t["argv"][:2] == ["bd", "create"])
    assert validate(shlex.join(create)).ok
