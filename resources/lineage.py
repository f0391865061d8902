"""Lineage/registry DuckDB resource: one short connection per stage write."""

from pathlib import Path

import dagster as dg

from node0_ops.corpus.store import open_db
from node0_ops.lineage.db import LineageDB
from node0_ops.paths import artifacts_dir, lineage_db_path, state_dir


class LineageResource(dg.ConfigurableResource):
    """The state directory and its lineage DuckDB (``state_dir`` empty = ``GASTOWN_FT_HOME``)."""

    state_dir: str = ""

    def state(self) -> Path:
        return state_dir(self.state_dir or None)

    def db(self) -> LineageDB:
        return open_db(lineage_db_path(self.state_dir or None))

    def artifacts(self, kind: str) -> Path:
        return artifacts_dir(kind, self.state_dir or None)
