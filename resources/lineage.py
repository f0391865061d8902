"""Lineage/registry DuckDB resource: dagster-duckdb's ``DuckDBResource`` with the single-writer discipline."""

from contextlib import contextmanager
from pathlib import Path

from dagster_duckdb import DuckDBResource
from pydantic import Field

from node0_ops.corpus.store import open_db
from node0_ops.lineage.db import LineageDB
from node0_ops.paths import artifacts_dir, lineage_db_path, state_dir


class LineageResource(DuckDBResource):
    """The state directory and its lineage DuckDB.

    A ``DuckDBResource`` (``database``, ``connection_config``) whose connections follow the
    project's discipline (``node0_ops.lineage.db``): writes take the ``<db>.lock`` writer lock and
    one transaction, reads open read-only connections without that lock. ``state_dir`` empty =
    ``GASTOWN_FT_HOME``; ``database`` empty = ``<state_dir>/lineage.duckdb``.
    """

    database: str = Field(default="", description="lineage DuckDB file (empty: <state_dir>/lineage.duckdb)")
    state_dir: str = Field(default="", description="state directory (empty: $GASTOWN_FT_HOME)")

    def state(self) -> Path:
        return state_dir(self.state_dir or None)

    def db_path(self) -> Path:
        """The DuckDB file this resource opens."""
        return Path(self.database) if self.database else lineage_db_path(self.state_dir or None)

    def db(self) -> LineageDB:
        """Handle with the corpus tables ensured; ``connection_config`` applies to every connection."""
        return open_db(self.db_path(), config={"custom_user_agent": "dagster", **self.connection_config})

    @contextmanager
    def get_connection(self):
        """``DuckDBResource`` API: a write connection under the writer lock, in one transaction
        (committed on exit, rolled back on error)."""
        with self.db().write() as con:
            yield con

    @contextmanager
    def get_read_connection(self):
        """A read-only connection; never takes the writer lock."""
        with self.db().read() as con:
            yield con

    def artifacts(self, kind: str) -> Path:
        return artifacts_dir(kind, self.state_dir or None)

