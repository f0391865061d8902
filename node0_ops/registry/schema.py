"""Registry tables (DuckDB; declared in ``node0_ops/lineage/schema.sql``) and the handle on them.

Tables:

- ``models``: one row per role-model version, ``name`` = ``<role>-v<version>`` (``polecat-v3``).
  ``artifacts`` is JSON ``{kind: {path, sha256, bytes}}``; ``eval_report`` is the eval
  suite's ``EvalReport.to_dict()`` JSON; ``run_id`` points at ``train_runs.run_id`` (trainer)
  and ``corpus_version`` at ``corpus_versions.corpus_version`` (corpus pipeline).
- ``adapters``: PEFT LoRA adapters by ``(name, version)``; ``compatible_models`` lists model names.
- ``deployments``: every deploy / rollback that rewrote a Gas Town settings file, with the
  entry it replaced (``previous_entry``, ``previous_agent``) so a rollback restores exactly that.
- ``bead_transitions``: every bead lifecycle step of a job (argv, status, id once known, replayed or not).
- ``bead_jobs``: one row per job: ``kind`` (``corpus``, ``role``, ``task``, ``dpo``), ``subject`` (the
  corpus version, or ``<kind>:<role/task>:<corpus version>``) and ``depends_on`` (the job whose bead
  this job's bead depends on: a training job's corpus-collection job).

Usage::

    from node0_ops.registry.schema import registry_db
    db = registry_db()                 # <state>/lineage.duckdb
"""

import os

from node0_ops.lineage.db import LineageDB
from node0_ops.paths import lineage_db_path

MODEL_STATUSES = ("active", "candidate", "archived")

def registry_db(state: str | os.PathLike | None = None) -> LineageDB:
    """The lineage DuckDB of ``state`` (see :func:`node0_ops.paths.state_dir`)."""
    return LineageDB(lineage_db_path(state))
