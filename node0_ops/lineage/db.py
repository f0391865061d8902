"""DuckDB lineage database with short connections and one writer at a time.

DuckDB allows a single writing process (environment notes), so every write
takes an exclusive ``fcntl`` lock on ``<db>.lock`` and keeps the connection
only for the write itself. Reads never take that lock: they open a read-only
connection and retry briefly while a writer holds the file.

Tables are declared as ``CREATE TABLE IF NOT EXISTS`` DDL; subsystems register
their own with :meth:`LineageDB.ensure` (corpus tables are built in).

Annotations name DuckDB classes as strings (postponed, PEP 563): a live reference from a
function's annotations or typing's generic-alias cache (``Iterator[DuckDBPyConnection]``) keeps
the nanobind type alive past interpreter exit whenever a Dagster definition graph survives
finalization, and nanobind then prints its ``leaked instance/type/function`` report.
"""

from __future__ import annotations

import fcntl
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb

CORPUS_DDL = [
    """create table if not exists sources (
        path varchar, sha256 varchar, size_bytes bigint, kind varchar, rig varchar, role varchar,
        n_records integer, n_quarantined integer, first_seen timestamp, last_seen timestamp,
        primary key (path, sha256))""",
    """create table if not exists records (
        record_id varchar primary key, kind varchar, source_key varchar, path varchar, sha256 varchar,
        line integer, byte_offset bigint, rig varchar, role varchar, payload varchar,
        scrubbed_payload varchar, collected_at timestamp)""",
    """create table if not exists quarantine (
        qid varchar primary key, path varchar, position varchar, reason varchar, source_kind varchar,
        collected_at timestamp)""",
    """create table if not exists redactions (
        record_id varchar, entity_type varchar, count integer, recognizer varchar,
        primary key (record_id, entity_type, recognizer))""",
    """create table if not exists examples (
        example_id varchar primary key, kind varchar, role varchar, task varchar, origin varchar,
        source_key varchar, split varchar, record_ids varchar[], messages varchar, text varchar,
        meta varchar, n_tokens integer, created_at timestamp)""",
    """create table if not exists dpo_pairs (
        pair_id varchar primary key, role varchar, task varchar, origin varchar, failure_mode varchar,
        source_key varchar, split varchar, record_ids varchar[], prompt varchar, chosen varchar,
        rejected varchar, created_at timestamp)""",
    """create table if not exists corpus_versions (
        corpus_version varchar primary key, created_at timestamp, town_root varchar,
        n_examples integer, n_pairs integer, source_hashes varchar, params varchar, stats varchar)""",
    """create table if not exists corpus_version_members (
        corpus_version varchar, item_kind varchar, item_id varchar,
        primary key (corpus_version, item_kind, item_id))""",
    """create table if not exists corpus_flags (
        flag_id varchar primary key, corpus_version varchar, kind varchar, path_a varchar,
        path_b varchar, detail varchar, created_at timestamp)""",
    """create table if not exists file_versions (
        path varchar, sha256 varchar, first_seen timestamp, last_seen timestamp,
        primary key (path, sha256))""",
    # imported corpus bundles (node0_ops.corpus.contributions): who contributed what to which version
    """create table if not exists contributions (
        bundle_id varchar primary key, contributor_fingerprint varchar, contributor_key varchar,
        source_corpus_version varchar, corpus_version varchar, base_corpus_version varchar,
        n_examples integer, n_pairs integer, n_new_examples integer, n_new_pairs integer,
        n_resplit integer, lineage_summary varchar, bundle_path varchar, imported_at timestamp)""",
    """create table if not exists contribution_items (
        bundle_id varchar, item_kind varchar, item_id varchar, is_new boolean,
        primary key (bundle_id, item_kind, item_id))""",
]


class LineageDB:
    """Handle on the lineage DuckDB file.

    Args:
        path: database file; parent directories are created.
        extra_ddl: more ``CREATE TABLE IF NOT EXISTS`` statements to ensure.
        timeout_s: how long a connection waits for another process's connection (seconds).
        config: DuckDB connection settings (https://duckdb.org/docs/configuration/overview),
            e.g. the ``connection_config`` of dagster-duckdb's ``DuckDBResource``.

    Raises:
        duckdb.IOException: when another process keeps the file locked for longer
            than ``timeout_s`` (30 s by default).
    """

    _ensured: set[tuple[str, str]] = set()

    def __init__(self, path: str | Path, extra_ddl: Iterable[str] = (), timeout_s: float = 30.0,
                 config: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.config = dict(config or {})
        self.ensure(CORPUS_DDL)
        self.ensure(extra_ddl)

    def ensure(self, ddl: Iterable[str]) -> None:
        """Run each DDL statement once per process (idempotent)."""
        todo = [s for s in ddl if (str(self.path), s) not in self._ensured]
        if not todo:
            return
        with self.write() as con:
            for stmt in todo:
                con.execute(stmt)
        self._ensured.update((str(self.path), s) for s in todo)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if read_only and not self.path.exists():
                    read_only = False
                return duckdb.connect(str(self.path), read_only=read_only, config=self.config)
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                # IOException: another process holds the file; ConnectionException: this process has it
                # open with the other mode (a write in another thread). Both end when that connection closes.
                if isinstance(exc, duckdb.ConnectionException) and "different configuration" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Exclusive write connection inside one transaction (rolled back on error)."""
        with self._lock():
            con = self._connect(read_only=False)
            try:
                con.execute("begin")
                yield con
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            finally:
                con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Short read-only connection, without the writer lock (waits while a writer holds the file)."""
        con = self._connect(read_only=True)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Run a query and return rows as dicts."""
        with self.read() as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def scalar(self, sql: str, params: list | None = None) -> Any:
        """First column of the first row (None when no row)."""
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None


def upsert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> int:
    """``INSERT OR REPLACE`` dict rows into ``table`` (keys = column names) via Arrow.

    Dict/list values that target ``varchar`` columns should be JSON-encoded by the caller;
    Python lists go to ``varchar[]`` columns as is. Returns the number of rows written.
    """
    if not rows:
        return 0
    import pyarrow as pa

    cols = list(rows[0].keys())
    tbl = pa.Table.from_pylist(rows)
    con.register("_upsert_src", tbl)
    try:
        con.execute(f"insert or replace into {table} ({', '.join(cols)}) select {', '.join(cols)} from _upsert_src")
    finally:
        con.unregister("_upsert_src")
    return len(rows)


def dumps(obj: Any) -> str:
    """Stable JSON for storing dicts/lists in varchar columns."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)
