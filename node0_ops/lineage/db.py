"""DuckDB lineage database with short connections and one writer at a time.

DuckDB allows a single writing process (environment notes), so every write
takes an exclusive ``fcntl`` lock on ``<db>.lock`` and keeps the connection
only for the write itself. Reads never take that lock: they open a read-only
connection and retry briefly while a writer holds the file.

Every table is declared once, in ``schema.sql`` (:mod:`node0_ops.lineage.schema`), and applied
with its forward migrations when a file is first opened in a process.

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
from typing import Any, Iterator

import duckdb

from node0_ops.lineage import schema

class LineageDB:
    """Handle on the lineage DuckDB file.

    Args:
        path: database file; parent directories are created; the schema is applied on first open.
        timeout_s: how long a connection waits for another process's connection (seconds).
        config: DuckDB connection settings (https://duckdb.org/docs/configuration/overview),
            e.g. the ``connection_config`` of dagster-duckdb's ``DuckDBResource``.

    Raises:
        duckdb.IOException: when another process keeps the file locked for longer
            than ``timeout_s`` (30 s by default).
        node0_ops.lineage.schema.SchemaError: the file was written by a newer project, or a
            migration failed.
    """

    _applied: set[str] = set()   # files whose schema this process applied

    def __init__(self, path: str | Path, timeout_s: float = 30.0, config: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.config = dict(config or {})
        key = str(self.path.resolve())
        if key not in self._applied or not self.path.exists():
            with self.write() as con:
                schema.apply(con, where=str(self.path))
            self._applied.add(key)

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
