"""One schema: every table in ``node0_ops/lineage/schema.sql``, applied when a LineageDB opens, with a
version and forward migrations; no module declares tables, and the Dagster layer runs no SQL."""

import re
from pathlib import Path

import duckdb
import pytest

from node0_ops.lineage import schema
from node0_ops.lineage.db import LineageDB

REPO = Path(__file__).resolve().parents[2]


def _tables(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}


def test_a_new_database_gets_every_table_and_the_current_version(tmp_path):
    db = LineageDB(tmp_path / "lineage.duckdb")
    assert _tables(db.path) == set(schema.table_names())
    assert {"examples", "train_runs", "models", "eval_reports", "exports", "intake_sessions", "sensor_decisions",
            "prime_reports", "bead_jobs"} <= set(schema.table_names())
    assert db.query("select version from schema_version") == [{"version": schema.SCHEMA_VERSION}]


def test_an_older_database_is_migrated_forward_once(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:   # what an early project left: a models table, no schema_version
        con.execute("create table models (name varchar primary key, role varchar)")
        con.execute("insert into models values ('deacon-v1', 'deacon')")
    migrations = {2: ["alter table models add column if not exists chat_template varchar"]}
    with duckdb.connect(str(path)) as con:
        assert schema.apply(con, version=2, migrations=migrations) == 2
        assert [r[0] for r in con.execute("select version from schema_version order by 1").fetchall()] == [1, 2]
        cols = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                          "where table_name = 'models'").fetchall()}
        assert "chat_template" in cols and con.execute("select name from models").fetchall() == [("deacon-v1",)]
        assert schema.apply(con, version=2, migrations=migrations) == 2      # nothing left to do
        assert con.execute("select count(*) from schema_version").fetchone()[0] == 2


def test_a_failed_migration_names_the_statement_and_records_nothing(tmp_path):
    path = tmp_path / "lineage.duckdb"
    LineageDB(path)
    with duckdb.connect(str(path)) as con:
        con.execute("begin")
        nxt = schema.SCHEMA_VERSION + 1
        with pytest.raises(schema.SchemaError, match=f"migration to schema version {nxt} failed on .*no_such_table"):
            schema.apply(con, version=nxt, migrations={nxt: ["alter table no_such_table add column x integer"]},
                         where=str(path))
        con.execute("rollback")
        assert con.execute("select max(version) from schema_version").fetchone()[0] == schema.SCHEMA_VERSION


def test_a_database_from_a_newer_project_is_refused(tmp_path):
    path = tmp_path / "lineage.duckdb"
    LineageDB(path)
    with duckdb.connect(str(path)) as con:
        con.execute("insert into schema_version values (?, now())", [schema.SCHEMA_VERSION + 1])
    LineageDB._applied.discard(str(path.resolve()))
    with pytest.raises(schema.SchemaError, match=f"schema version {schema.SCHEMA_VERSION + 1}, newer"):
        LineageDB(path)


def _sources(*folders: str):
    for folder in folders:
        yield from (p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_declares_tables_outside_the_schema():
    found = [f"{p.relative_to(REPO)}" for p in _sources("node0_ops", "gastown_assets", "resources", "sensors")
             if re.search(r"create\s+table", p.read_text(encoding="utf-8"), re.I) and p.name != "schema.py"]
    assert not found, f"tables are declared in node0_ops/lineage/schema.sql only; found DDL in {found}"


def test_the_dagster_layer_runs_no_raw_sql():
    raw = re.compile(r"\.(query|scalar|execute)\(|\bupsert\(")
    found = [f"{p.relative_to(REPO)}:{n}" for p in _sources("gastown_assets/defs", "sensors", "resources")
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if raw.search(line)]
    assert not found, f"assets, checks and sensors call the repository modules, never SQL: {found}"


def test_a_version_1_database_gets_the_stacked_adapter_columns(tmp_path):
    """Schema v2: eval_reports.kind/task/baseline_label and adapters.eval_* columns on a v1 database."""
    path = tmp_path / "v1.duckdb"
    with duckdb.connect(str(path)) as con:   # a v1 database: the two tables as v1 declared them
        con.execute(schema.VERSION_DDL)
        con.execute("insert into schema_version values (1, now())")
        con.execute("create table eval_reports (report_id varchar primary key, role varchar, overall double)")
        con.execute("create table adapters (name varchar, version integer, kind varchar, primary key (name, version))")
        con.execute("insert into adapters values ('task-formula', 1, 'task')")
    db = LineageDB(path)
    cols = {(r["table_name"], r["column_name"]) for r in db.query(
        "select table_name, column_name from information_schema.columns where table_name in ('adapters', 'eval_reports')")}
    assert {("eval_reports", "kind"), ("eval_reports", "task"), ("eval_reports", "baseline_label"),
            ("adapters", "eval_report_id"), ("adapters", "eval_score"), ("adapters", "baseline_score"),
            ("adapters", "export_dir")} <= cols
    assert [r["version"] for r in db.query("select version from schema_version order by 1")] == [1, 2]
    assert db.query("select name, kind from adapters") == [{"name": "task-formula", "kind": "task"}]
