"""The lineage DB's one schema: every table (``schema.sql``), its version, and forward migrations.

:func:`apply` runs when a :class:`~node0_ops.lineage.db.LineageDB` opens a file (once per process and
file): it creates the tables that are missing, then brings an older database forward by running each
migration above the version recorded in ``schema_version`` (one row per applied version), and
refuses a database written by a newer project (its version is above :data:`SCHEMA_VERSION`).

A schema change: edit ``schema.sql`` (what a new database gets), bump :data:`SCHEMA_VERSION`, and add
``MIGRATIONS[new_version]``, the statements that bring a database of the previous version to the new
one (``alter table ... add column if not exists ...``: idempotent, because a new database already has
the change from ``schema.sql``).

Usage::

    from node0_ops.lineage.schema import apply, table_names
    with duckdb.connect(path) as con:
        apply(con)                 # -> version now recorded (SCHEMA_VERSION)
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
SCHEMA_VERSION = 2
# version -> statements that bring a database of version - 1 to it (version 1 is the baseline)
MIGRATIONS: dict[int, list[str]] = {
    2: [  # task and DPO adapters are exported, evaluated against their role model and registered with it
        "alter table eval_reports add column if not exists kind varchar",
        "alter table eval_reports add column if not exists task varchar",
        "alter table eval_reports add column if not exists baseline_label varchar",
        "alter table adapters add column if not exists eval_report_id varchar",
        "alter table adapters add column if not exists eval_score double",
        "alter table adapters add column if not exists baseline_score double",
        "alter table adapters add column if not exists export_dir varchar",
    ],
}
VERSION_DDL = "create table if not exists schema_version (version integer primary key, applied_at timestamp)"


class SchemaError(RuntimeError):
    """The database cannot be used with this schema (written by a newer project, or a failed migration)."""


@lru_cache(maxsize=1)
def statements() -> tuple[str, ...]:
    """The ``create table if not exists`` statements of ``schema.sql``, in file order (comments dropped)."""
    text = "\n".join(line for line in SCHEMA_FILE.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("--"))
    return tuple(s.strip() for s in text.split(";") if s.strip())


def table_names() -> list[str]:
    """Every table the schema declares (``schema_version`` included)."""
    names = [re.match(r"create table if not exists (\w+)", s).group(1) for s in statements()]
    return names + ["schema_version"]


def current_version(con: Any) -> int:
    """The highest version recorded in ``schema_version`` (0 for a database that predates it)."""
    row = con.execute("select max(version) from schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def apply(con: Any, *, version: int = SCHEMA_VERSION,
          migrations: Mapping[int, Sequence[str]] | None = None, where: str = "the lineage DB") -> int:
    """Create missing tables and run the migrations above the recorded version on ``con`` (a DuckDB
    connection inside the caller's write transaction). Returns the version recorded afterwards.

    Raises:
        SchemaError: the database records a version above ``version`` (a newer project wrote it), or a
            migration statement failed (the message names ``where``, the version and the statement).
    """
    migrations = MIGRATIONS if migrations is None else migrations
    con.execute(VERSION_DDL)
    found = current_version(con)
    if found > version:
        raise SchemaError(f"{where} has schema version {found}, newer than this project's {version}: "
                          "update gastown-finetune (git pull && make install), or use another --state-dir")
    fresh = found == 0 and not con.execute("select count(*) from information_schema.tables where table_schema = 'main' "
                                           "and table_name <> 'schema_version'").fetchone()[0]
    for stmt in statements():
        con.execute(stmt)
    if fresh:  # schema.sql already is the newest schema: nothing to migrate
        con.execute("insert into schema_version values (?, now())", [version])
        return version
    for v in range(found + 1, version + 1):
        for stmt in migrations.get(v, ()):
            try:
                con.execute(stmt)
            except Exception as exc:  # duckdb.Error subclasses: name what failed
                raise SchemaError(f"{where}: migration to schema version {v} failed on {stmt!r}: {exc}") from exc
        con.execute("insert into schema_version values (?, now())", [v])
    return max(found, version)
