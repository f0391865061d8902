"""Corpus contribution: a signed bundle of the embedded town's corpus round-trips into a fresh state
and names its contributor in ``gt-model show``; a tampered member, a wrong signature, unsafe tar
paths, a line whose id is not its content hash and a planted secret are refused with nothing written."""

import base64
import hashlib
import io
import json
import stat
import tarfile

import pytest

from gastown_assets.cli.corpus import main as corpus_main
from node0_ops.corpus import store
from node0_ops.corpus.bundle import DATA_MEMBERS, MEMBERS, BundleError, canonical_json, read_bundle, write_bundle
from node0_ops.corpus.contribute import contribute
from node0_ops.corpus.contributions import contributors_of, import_bundle
from node0_ops.corpus.contributor_key import create_key, fingerprint, load_or_create_key, public_key_line
from node0_ops.corpus.schema import Example, stable_id

AWS_KEY_ID = "AKIA" + "Q7XK2M9PLR4TZW8N"  # AWS access key id shape (detect-secrets AWSKeyDetector), not a real key


def _cli_env(mp: pytest.MonkeyPatch) -> None:
    """The CLI exports its flags as env vars (apply_common_flags): undo them after the test."""
    for var in ("GASTOWN_FT_HOME", "DAGSTER_HOME", "GT_ROOT"):
        mp.delenv(var, raising=False)


@pytest.fixture(scope="module")
def contributed(build_corpus, tmp_path_factory):
    """The embedded town's corpus, contributed through ``node0-corpus contribute`` (key generated)."""
    base = tmp_path_factory.mktemp("contrib")
    town, state, version = build_corpus(base)
    out = base / "bundle.tar"
    with pytest.MonkeyPatch.context() as mp:
        _cli_env(mp)
        assert corpus_main(["contribute", "--out", str(out), "--state-dir", str(state)]) == 0
    db = store.open_db(state / "lineage.duckdb")
    return {"base": base, "town": town, "state": state, "db": db, "version": version, "bundle": out,
            "n_examples": len(store.load_examples(db, version)), "n_pairs": len(store.load_pairs(db, version))}


def _raw_members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}


def _write_tar(path, entries) -> None:
    """``entries``: (name, bytes) regular files, or (name, None, linkname) symlinks."""
    with tarfile.open(path, "w") as tf:
        for name, data, *link in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link[0]
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))


def _nothing_written(db) -> None:
    assert db.scalar("select count(*) from corpus_versions") == 0
    assert db.scalar("select count(*) from contributions") == 0
    assert db.scalar("select count(*) from examples") == 0


def test_key_is_generated_once_with_mode_600(contributed):
    key_path = contributed["state"] / "keys" / "contributor_ed25519"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key, path, created = load_or_create_key(None, contributed["state"])
    assert (path, created) == (key_path, False)
    line = public_key_line(key.public_key())
    assert (key_path.parent / "contributor_ed25519.pub").read_text().split()[:2] == line.split()
    assert read_bundle(contributed["bundle"]).fingerprint == fingerprint(line)
    assert fingerprint(line).startswith("SHA256:") and len(fingerprint(line)) == 7 + 43


def test_bundle_holds_scrubbed_items_only_and_is_content_addressed(contributed):
    raw = _raw_members(contributed["bundle"])
    assert list(raw) == list(MEMBERS)
    b = read_bundle(contributed["bundle"])
    assert b.bundle_id == hashlib.sha256(raw["manifest.json"]).hexdigest()
    assert b.manifest["corpus_version"] == contributed["version"]
    assert b.manifest["counts"] == {"examples": contributed["n_examples"], "dpo_pairs": contributed["n_pairs"]}
    lines = [json.loads(x) for x in raw["examples.jsonl"].decode().splitlines()]
    assert len(lines) == contributed["n_examples"] and all("record_ids" not in x for x in lines)
    assert all("/" not in x["meta"].get("path", "") for x in lines)  # file names only
    town = str(contributed["town"]).encode()
    assert not any(town in raw[n] for n in DATA_MEMBERS), "the town root (a local path) leaked into the bundle"
    summary = json.loads(raw["lineage_summary.json"])
    assert summary["n_examples"] == contributed["n_examples"] and summary["records_by_kind"]
    again = contributed["base"] / "again.tar"  # same corpus + key -> same bytes, same id
    key, _, _ = load_or_create_key(None, contributed["state"])
    assert contribute(contributed["db"], again, version=contributed["version"], key=key)["bundle_id"] == b.bundle_id
    assert again.read_bytes() == contributed["bundle"].read_bytes()


def test_round_trip_into_a_fresh_state_lists_the_contributor(contributed, tmp_path, capsys, monkeypatch):
    from node0_ops.registry.cli import main as gt_model
    from node0_ops.registry.schema import registry_db
    from node0_ops.registry.store import register_model

    _cli_env(monkeypatch)
    state2 = tmp_path / "state2"
    assert corpus_main(["import", str(contributed["bundle"]), "--state-dir", str(state2)]) == 0
    assert "corpus version " + contributed["version"] in capsys.readouterr().out
    db2 = store.open_db(state2 / "lineage.duckdb")
    version = store.latest_corpus_version(db2)
    assert version == contributed["version"]  # same ids and splits -> same content hash
    assert [e["example_id"] for e in store.load_examples(db2, version)] == \
        [e["example_id"] for e in store.load_examples(contributed["db"], contributed["version"])]
    assert len(store.load_pairs(db2, version)) == contributed["n_pairs"]
    b = read_bundle(contributed["bundle"])
    (row,) = db2.query("select * from contributions")
    assert (row["bundle_id"], row["contributor_fingerprint"], row["corpus_version"]) == (b.bundle_id, b.fingerprint, version)
    assert (row["n_examples"], row["n_pairs"], row["n_new_examples"]) == (contributed["n_examples"], contributed["n_pairs"],
                                                                         contributed["n_examples"])
    assert row["imported_at"] is not None
    assert db2.scalar("select count(*) from contribution_items where bundle_id = ? and is_new", [b.bundle_id]) \
        == contributed["n_examples"] + contributed["n_pairs"]
    assert (state2 / "artifacts" / "corpus" / version / "sft_train.jsonl").is_file()
    # the imported version is what Dagster's training stages take next (a runless corpus_version event)
    import dagster as dg

    from node0_ops.paths import dagster_home

    with dg.DagsterInstance.from_config(str(dagster_home(state2))) as instance:
        mat = instance.fetch_materializations(dg.AssetKey("corpus_version"), limit=1).records[0].asset_materialization
    assert mat.metadata["corpus_version"].value == version and mat.metadata["bundle_id"].value == b.bundle_id

    # importing the same bundle again writes nothing
    assert import_bundle(db2, contributed["bundle"])["status"] == "already-imported"
    assert db2.scalar("select count(*) from contributions") == 1

    register_model(registry_db(state2), "deacon", "smollm2-135m", corpus_version=version)
    assert gt_model(["--state-dir", str(state2), "--json", "show", "deacon-v1"]) == 0
    shown = json.loads(capsys.readouterr().out)["lineage"]["contributors"]
    assert [(c["contributor_fingerprint"], c["n_examples"], c["n_pairs"]) for c in shown] == \
        [(b.fingerprint, contributed["n_examples"], contributed["n_pairs"])]
    assert gt_model(["--state-dir", str(state2), "show", "deacon-v1"]) == 0
    text = capsys.readouterr().out
    assert "Corpus contributors:" in text and b.fingerprint in text
    register_model(registry_db(state2), "deacon", "smollm2-135m", corpus_version="cv-local")
    assert gt_model(["--state-dir", str(state2), "--json", "show", "deacon-v2"]) == 0
    assert json.loads(capsys.readouterr().out)["lineage"]["contributors"] == []


def test_merge_onto_a_local_corpus_keeps_sources_in_one_split(contributed, tmp_path):
    theirs = store.load_examples(contributed["db"], contributed["version"])
    shared = next(e for e in theirs if e["split"] == "train")
    local = [Example(kind="text", role="deacon", task="conventions", origin="doc", source_key=shared["source_key"],
                     record_ids=[], text="Deacon patrols run every few minutes.", split="val"),
             Example(kind="text", role="mayor", task="planning", origin="doc", source_key="file:local.md",
                     record_ids=[], text="The mayor plans convoys.", split="train")]
    db = store.open_db(tmp_path / "state" / "lineage.duckdb")
    base = store.save_corpus(db, local, [], town_root="t", source_hashes={"/t/a.md": "0" * 64}, params={}, stats={})
    info = import_bundle(db, contributed["bundle"])
    assert info["base_corpus_version"] == base and info["corpus_version"] not in (base, contributed["version"])
    assert store.latest_corpus_version(db) == info["corpus_version"]
    merged = store.load_examples(db, info["corpus_version"])
    assert len(merged) == contributed["n_examples"] + 2
    same_source = {e["split"] for e in merged if e["source_key"] == shared["source_key"]}
    assert same_source == {"val"} and info["n_resplit"] >= 1
    assert contributors_of(db, base) == []
    assert [c["n_examples"] for c in contributors_of(db, info["corpus_version"])] == [contributed["n_examples"]]


def test_tampered_member_is_refused(contributed, tmp_path, monkeypatch):
    _cli_env(monkeypatch)
    raw = _raw_members(contributed["bundle"])
    assert b'"split": "train"' in raw["examples.jsonl"]
    raw["examples.jsonl"] = raw["examples.jsonl"].replace(b'"split": "train"', b'"split": "test"', 1)
    bad = tmp_path / "tampered.tar"
    _write_tar(bad, raw.items())
    db = store.open_db(tmp_path / "s" / "lineage.duckdb")
    with pytest.raises(BundleError, match=r"tampered\.tar refused: member examples\.jsonl has sha256 .* altered"):
        import_bundle(db, bad)
    _nothing_written(db)
    with pytest.raises(SystemExit, match="altered"):  # the CLI exits 1 with the same message
        corpus_main(["import", str(bad), "--state-dir", str(tmp_path / "s")])


def test_wrong_signature_is_refused(contributed, tmp_path):
    raw = _raw_members(contributed["bundle"])
    other = create_key(tmp_path / "other_key")
    resigned = dict(raw, **{"manifest.sig": base64.b64encode(other.sign(raw["manifest.json"]))})
    manifest = json.loads(raw["manifest.json"])
    manifest["contributor"]["public_key"] = public_key_line(other.public_key())
    swapped = dict(raw, **{"manifest.json": canonical_json(manifest)})  # other's key, the original signature
    db = store.open_db(tmp_path / "s" / "lineage.duckdb")
    for name, members in (("resigned", resigned), ("swapped", swapped)):
        path = tmp_path / f"{name}.tar"
        _write_tar(path, members.items())
        with pytest.raises(BundleError, match=rf"{name}\.tar refused: manifest\.sig is not a valid Ed25519 signature"):
            import_bundle(db, path)
    _nothing_written(db)


@pytest.mark.parametrize("entry, reason", [
    (("../evil.jsonl", b"x"), "'..' path part"),
    (("/etc/cron.d/evil", b"x"), "absolute path"),
    (("notes.txt", b"x"), "unexpected member 'notes.txt'"),
    (("examples.jsonl", b"{}\n"), "appears twice"),
])
def test_unsafe_or_unexpected_tar_members_are_refused(contributed, tmp_path, entry, reason):
    bad = tmp_path / "bad.tar"
    _write_tar(bad, [*_raw_members(contributed["bundle"]).items(), entry])
    with pytest.raises(BundleError, match=rf"bad\.tar refused: .*{reason}"):
        read_bundle(bad)


def test_symlink_member_is_refused(contributed, tmp_path):
    raw = _raw_members(contributed["bundle"])
    raw.pop("lineage_summary.json")
    bad = tmp_path / "link.tar"
    _write_tar(bad, [*raw.items(), ("lineage_summary.json", None, "/etc/passwd")])
    with pytest.raises(BundleError, match="lineage_summary.json' is not a regular file"):
        read_bundle(bad)


def _resigned_with(contributed, tmp_path, edit, corpus_version=None) -> tuple:
    """A validly signed bundle (the contributor's own key) whose first chat example line ``edit``
    changed; its manifest names ``corpus_version`` (default: the content hash of the lines)."""
    raw = _raw_members(contributed["bundle"])
    lines = [json.loads(x) for x in raw["examples.jsonl"].decode().splitlines()]
    i = next(i for i, x in enumerate(lines) if x["messages"])
    lines[i] = edit(lines[i])
    members = dict((n, raw[n]) for n in DATA_MEMBERS)
    members["examples.jsonl"] = "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines).encode()
    pairs = [json.loads(x) for x in raw["dpo_pairs.jsonl"].decode().splitlines()]
    content_hash = stable_id(sorted((x["example_id"], x["split"]) for x in lines),
                             sorted((p["pair_id"], p["split"]) for p in pairs))  # store.corpus_version_of
    key, _, _ = load_or_create_key(None, contributed["state"])
    path = tmp_path / "resigned.tar"
    write_bundle(path, members, corpus_version=corpus_version or content_hash,
                 counts=json.loads(raw["manifest.json"])["counts"], key=key)
    return path, lines[i]


def test_planted_secret_is_refused(contributed, tmp_path):
    def plant(line):
        line["messages"][-1]["content"] += f"\nexport AWS_ACCESS_KEY_ID={AWS_KEY_ID}"
        line["example_id"] = stable_id(line["role"], line["task"], line["messages"], line["text"])
        return line

    path, line = _resigned_with(contributed, tmp_path, plant)
    read_bundle(path)  # signature and hashes are fine: the scrubber is what refuses it
    db = store.open_db(tmp_path / "s" / "lineage.duckdb")
    with pytest.raises(BundleError, match=rf"secret/PII finding.*example {line['example_id']}\): AWS_ACCESS_KEY"):
        import_bundle(db, path)
    _nothing_written(db)


def test_line_whose_id_is_not_its_content_hash_is_refused(contributed, tmp_path):
    def edit(line):
        line["messages"][-1]["content"] += " (edited)"
        return line

    path, line = _resigned_with(contributed, tmp_path, edit)
    db = store.open_db(tmp_path / "s" / "lineage.duckdb")
    with pytest.raises(BundleError, match=rf"examples\.jsonl line \d+: example_id '{line['example_id']}' is not the hash"):
        import_bundle(db, path)
    _nothing_written(db)


def test_contribute_refuses_a_corpus_with_a_secret(tmp_path):
    ex = Example(kind="chat", role="polecat", task="git-workflow", origin="transcript", source_key="session:1",
                 record_ids=[], split="train", messages=[
                     {"role": "user", "content": "set up the deploy"},
                     {"role": "assistant", "content": f"export AWS_ACCESS_KEY_ID={AWS_KEY_ID}\ngit push origin HEAD"}])
    db = store.open_db(tmp_path / "lineage.duckdb")
    version = store.save_corpus(db, [ex], [], town_root="t", source_hashes={}, params={}, stats={})
    key = create_key(tmp_path / "k")
    with pytest.raises(BundleError, match=f"example {ex.example_id}: AWS_ACCESS_KEY"):
        contribute(db, tmp_path / "b.tar", version=version, key=key)
    assert not (tmp_path / "b.tar").exists()


def test_manifest_corpus_version_must_be_the_content_hash(contributed, tmp_path):
    path, _ = _resigned_with(contributed, tmp_path, lambda line: line, corpus_version="0" * 16)
    db = store.open_db(tmp_path / "s" / "lineage.duckdb")
    with pytest.raises(BundleError, match=f"manifest corpus_version {'0' * 16} is not the content hash of its items "
                                          f"\\({contributed['version']}\\)"):
        import_bundle(db, path)
    _nothing_written(db)


def test_unknown_base_version_is_refused_before_anything_is_written(contributed, tmp_path):
    db = store.open_db(tmp_path / "s" / "lineage.duckdb")
    with pytest.raises(ValueError, match="--into cv-nope: no such corpus version"):
        import_bundle(db, contributed["bundle"], into="cv-nope")
    _nothing_written(db)
