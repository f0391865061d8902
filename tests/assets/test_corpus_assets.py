"""The corpus asset graph materializes on the sample town with real resources on tmp_path."""

import json
import shutil

import dagster as dg
import pytest

from gastown_assets.defs.corpus import assets, checks
from node0_ops.corpus import store
from resources import LineageResource, ScrubberResource, TownResource
from resources.handles import HandleIOManager
from tests.graph_helpers import sources

SELECTION = [assets.collected_records, assets.scrubbed_records, assets.corpus_version,
             checks.scrubbed_records_no_secrets, checks.corpus_version_no_secrets,
             checks.corpus_version_split_isolation, checks.corpus_version_expectations,
             checks.corpus_version_convention_flags,
             checks.collected_records_quarantine]


def _resources(state, town):
    return {"io_manager": HandleIOManager(), "lineage": LineageResource(state_dir=str(state)), "scrubber": ScrubberResource(),
            "town": TownResource(root=str(town), state_dir=str(state))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from node0_ops.paths import EMBEDDED_TOWN

    base = tmp_path_factory.mktemp("corpus")
    town = base / "town"
    shutil.copytree(EMBEDDED_TOWN, town)
    # bad input next to good input: quarantined, not fatal
    (town / "gastown" / "notes.formula.toml").write_text("formula = 'broken\n[[steps]\n")
    issues = town / ".beads" / "issues.jsonl"
    n_good = len(issues.read_bytes().splitlines())
    with open(issues, "ab") as fh:
        fh.write(b'{"id": "hq-zz1", "title": "late good issue", "status": "open", "priority": 2}\n'
                 b'{"id": "hq-zz2", "tit\n\xff\xfe{"id": 1}\n')
    (base / "n_good").write_text(str(n_good + 1))
    state = base / "state"
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(SELECTION, resources=_resources(state, town), instance=instance)
    return result, state, town


def test_graph_succeeds_and_checks_pass(built):
    result, _, _ = built
    assert result.success
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals["scrubbed_records_no_secrets"].passed
    assert evals["corpus_version_no_secrets"].passed
    assert evals["corpus_version_split_isolation"].passed
    gx = evals["corpus_version_expectations"]
    assert gx.passed and gx.metadata["n_expectations"].value >= 20 and gx.metadata["n_failed"].value == 0
    assert "expect_column_values_to_be_in_set" in gx.metadata["expectations"].value
    assert not evals["collected_records_quarantine"].passed  # we planted bad files


def test_quarantine_keeps_good_records_and_names_positions(built):
    _, state, town = built
    db = store.open_db(state / "lineage.duckdb")
    rows = db.query("select path, position, reason from quarantine")
    paths = {r["path"] for r in rows}
    assert str(town / "gastown" / "notes.formula.toml") in paths
    issues = town / ".beads" / "issues.jsonl"
    bad_lines = [r for r in rows if r["path"] == str(issues)]
    assert len(bad_lines) == 2 and all(r["position"].startswith("line") for r in bad_lines)
    good = db.scalar("select count(*) from records where path = ?", [str(issues)])
    assert good == int((state.parent / "n_good").read_text())  # every valid line survived


def test_lineage_traces_example_to_source_bytes(built):
    _, state, _ = built
    db = store.open_db(state / "lineage.duckdb")
    version = store.latest_corpus_version(db)
    ex = store.load_examples(db, version)[0]
    src = db.query("select r.path, r.sha256 from records r where r.record_id = ?", [ex["record_ids"][0]])[0]
    import hashlib
    from pathlib import Path

    assert hashlib.sha256(Path(src["path"]).read_bytes()).hexdigest() == src["sha256"]
    members = db.scalar("select count(*) from corpus_version_members where corpus_version = ?", [version])
    assert members == db.scalar("select n_examples + n_pairs from corpus_versions where corpus_version = ?", [version])


def test_planted_secrets_absent_from_examples(built):
    from pathlib import Path

    _, state, _ = built
    planted = json.loads((Path(__file__).parents[1] / "fixtures" / "planted_secrets.json").read_text())
    db = store.open_db(state / "lineage.duckdb")
    blob = "\n".join(str(r["messages"] or r["text"]) for r in db.query("select messages, text from examples"))
    blob += "\n".join(r["prompt"] + r["chosen"] + r["rejected"] for r in db.query("select prompt, chosen, rejected from dpo_pairs"))
    leaked = [p["value"] for p in planted if p["value"] in blob]
    assert not leaked
    assert db.scalar("select sum(count) from redactions") >= len(planted)


def _version_md(result) -> dict:
    return next(e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.asset_key == assets.corpus_version.key)


def test_corpus_version_gets_one_closed_collection_bead(built):
    """Issue 13: the corpus-collection bead training beads depend on, created and closed as built."""
    from node0_ops.registry.beads import find_job, transitions
    from node0_ops.registry.schema import registry_db

    result, state, _ = built
    md = _version_md(result)
    version, job_id = md["corpus_version"].value, md["collection_job_id"].value
    assert md["collection_bead_created"].value is True
    db = registry_db(state)
    assert find_job(db, "corpus", version) == job_id
    rows = transitions(db, job_id)
    assert rows[0]["argv"][:3] == ["bd", "create", f"Collect corpus {version}"] and "corpus,node0" in rows[0]["argv"]
    assert rows[-1]["status"] == "closed" and rows[-1]["argv"][-1].startswith(f"corpus {version} built: ")
    assert f"{md['n_examples'].value} SFT examples" in rows[-1]["argv"][-1]


def test_rebuild_is_idempotent(built):
    from node0_ops.registry.schema import registry_db

    _, state, town = built
    db = store.open_db(state / "lineage.duckdb")
    before = store.latest_corpus_version(db)
    n_records = db.scalar("select count(*) from records")
    result = dg.materialize(SELECTION[:3], resources=_resources(state, town), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert db.scalar("select count(*) from records") == n_records
    assert store.latest_corpus_version(db) == before
    # the same version keeps its collection bead: no second bead for an unchanged corpus
    assert _version_md(result)["collection_bead_created"].value is False
    assert registry_db(state).scalar("select count(*) from bead_jobs where kind = 'corpus'") == 1


def test_role_task_partition_exports_trl_jsonl(built):
    built_result, state, town = built
    db = store.open_db(state / "lineage.duckdb")
    row = db.query("select role, task from examples group by all order by count(*) desc limit 1")[0]
    key = dg.MultiPartitionKey({"role": row["role"], "task": row["task"]})
    instance = dg.DagsterInstance.ephemeral()
    no_version = dg.materialize([assets.corpus_partition, *sources("corpus_version")], resources=_resources(state, town), partition_key=key,
                                instance=instance, raise_on_error=False)
    assert not no_version.success  # the slice is of the version Dagster recorded, not the newest table row
    version = _version_md(built_result)["corpus_version"].value
    instance.report_runless_asset_event(dg.AssetMaterialization("corpus_version", metadata={"corpus_version": version}))
    result = dg.materialize([assets.corpus_partition, *sources("corpus_version")], resources=_resources(state, town),
                            partition_key=key, instance=instance)
    assert result.success
    md = result.get_asset_materialization_events()[0].materialization.metadata
    out = md["path"].value
    from pathlib import Path

    lines = [json.loads(x) for f in Path(out).glob("sft_*.jsonl") for x in f.read_text().splitlines()]
    assert lines and all("messages" in x or "text" in x for x in lines)
