"""The lineage resource is dagster-duckdb's DuckDBResource and keeps the single-writer discipline."""

import fcntl
import subprocess
import sys
import time

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from node0_ops.lineage.db import LineageDB
from resources import LineageResource


def test_lineage_resource_is_a_duckdb_resource_on_the_state_db(tmp_path):
    res = LineageResource(state_dir=str(tmp_path), connection_config={"threads": 1})
    assert isinstance(res, DuckDBResource)
    assert res.db_path() == tmp_path / "lineage.duckdb"
    with res.get_connection() as con:  # DuckDBResource API: a write connection in one transaction
        con.execute("create table t (x integer)")
        con.execute("insert into t values (1), (2)")
        assert con.execute("select current_setting('threads')").fetchone()[0] == 1
    with res.get_read_connection() as con:
        assert con.execute("select sum(x) from t").fetchone()[0] == 3
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("insert into t values (3)")
    assert res.db().scalar("select count(*) from t") == 2


def test_failed_write_through_the_resource_rolls_back(tmp_path):
    res = LineageResource(state_dir=str(tmp_path))
    with res.get_connection() as con:
        con.execute("create table t (x integer)")
    with pytest.raises(RuntimeError):
        with res.get_connection() as con:
            con.execute("insert into t values (1)")
            raise RuntimeError("stage failed")
    assert res.db().scalar("select count(*) from t") == 0


def test_reads_do_not_wait_for_the_writer_lock(tmp_path):
    db = LineageDB(tmp_path / "l.duckdb")
    with db.write() as con:
        con.execute("create table t (x integer)")
        con.execute("insert into t values (7)")
    lock = db.path.with_suffix(".duckdb.lock")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"fh = open({str(lock)!r}, 'a+'); fcntl.flock(fh, fcntl.LOCK_EX); print('locked', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t = time.monotonic()
        assert db.scalar("select x from t") == 7  # the writer lock is held by another process
        assert time.monotonic() - t < 5
        with open(lock, "a+") as fh:  # and the lock really is held
            with pytest.raises(BlockingIOError):
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.kill()
        holder.wait()


def test_assets_get_the_resource_through_dagster(tmp_path):
    @dg.asset
    def rows(lineage: LineageResource) -> int:
        with lineage.get_connection() as con:
            con.execute("create table if not exists t (x integer)")
            con.execute("insert into t values (5)")
        return lineage.db().scalar("select count(*) from t")

    result = dg.materialize([rows], resources={"lineage": LineageResource(state_dir=str(tmp_path))})
    assert result.output_for_node("rows") == 1
