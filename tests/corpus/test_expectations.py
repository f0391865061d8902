"""Great Expectations suites on the corpus tables: planted bad rows fail, real corpora pass."""

import json

import pytest

from node0_ops.corpus.expectations import validate_corpus
from node0_ops.lineage.db import upsert


def _plant(db, version: str, rows: list[dict]) -> None:
    base = db.query("select * from examples limit 1")[0]
    with db.write() as con:
        upsert(con, "examples", [{**base, **r} for r in rows])
        upsert(con, "corpus_version_members", [{"corpus_version": version, "item_kind": "example",
                                                 "item_id": r["example_id"]} for r in rows])


@pytest.fixture
def built(build_corpus, tmp_path):
    from node0_ops.corpus import store

    _, state, version = build_corpus(tmp_path)
    return store.open_db(state / "lineage.duckdb"), version


def test_sample_town_corpus_passes(built):
    report = validate_corpus(*built)
    assert report.success, [o.describe() for o in report.failed()]
    tables = {o.table for o in report.outcomes}
    assert tables == {"examples", "dpo_pairs", "redactions", "quarantine"}
    assert all(o.n_rows > 0 for o in report.outcomes if o.table in ("examples", "dpo_pairs"))


def test_planted_empty_assistant_turn_and_unknown_role_fail(built):
    db, version = built
    empty = [{"role": "user", "content": "close hq-1"}, {"role": "assistant", "content": "   "}]
    _plant(db, version, [
        {"example_id": "planted-empty", "kind": "chat", "messages": json.dumps(empty)},
        {"example_id": "planted-role", "role": "sheriff"},
        {"example_id": "planted-notchat", "kind": "chat", "messages": "{not json"},
    ])
    report = validate_corpus(db, version)
    assert not report.success
    failed = {(o.column, o.expectation): o for o in report.failed()}
    role = failed[("role", "expect_column_values_to_be_in_set")]
    assert role.unexpected_ids == ["planted-role"] and role.unexpected_values == ["sheriff"]
    turn = [o for o in report.failed() if o.column == "_assistant_chars"]
    assert {i for o in turn for i in o.unexpected_ids} == {"planted-empty", "planted-notchat"}
    assert "planted-role" in role.describe()
    assert len(report.failed()) == 3  # nothing else flagged: the good rows still pass


def test_tool_call_only_turn_is_not_empty(built):
    db, version = built
    call = [{"role": "user", "content": "list mail"}, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\": \"gt mail inbox\"}"}}]}]
    _plant(db, version, [{"example_id": "planted-call", "kind": "chat", "messages": json.dumps(call)}])
    assert validate_corpus(db, version).success


def test_unknown_version_is_an_error(built):
    db, _ = built
    with pytest.raises(ValueError, match="no examples"):
        validate_corpus(db, "0000000000000000")


def test_real_data_corpus_passes(real_corpus):
    report = validate_corpus(real_corpus["db"], real_corpus["version"])
    assert report.success, [o.describe() for o in report.failed()]
    assert next(o for o in report.outcomes if o.table == "examples").n_rows > 1000
