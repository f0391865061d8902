"""Registry tables (DuckDB) and the handle that ensures them.

Tables, registered with :class:`node0_ops.lineage.db.LineageDB` ``extra_ddl``:

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
    db = registry_db()                 # <state>/lineage.duckdb with registry tables
"""

import os

from node0_ops.lineage.db import LineageDB
from node0_ops.paths import lineage_db_path

MODEL_STATUSES = ("active", "candidate", "archived")

REGISTRY_DDL = [
    """create table if not exists models (
        name varchar primary key, role varchar, base varchar, version integer, lora_rank integer,
        trained_at timestamp, corpus_examples integer, corpus_version varchar, dpo_pairs integer,
        eval_score double, eval_report varchar, adapters varchar[], status varchar,
        deployed_rigs varchar[], artifacts varchar, run_id varchar, created_at timestamp, notes varchar,
        hyperparameters varchar, chat_template varchar)""",
    """create table if not exists adapters (
        name varchar, version integer, kind varchar, task varchar, role varchar, path varchar,
        gguf_path varchar, sha256 varchar, compatible_models varchar[], run_id varchar,
        corpus_version varchar, base varchar, created_at timestamp,
        primary key (name, version))""",
    """create table if not exists deployments (
        deploy_id varchar primary key, ts timestamp, action varchar, role varchar, scope varchar,
        rig varchar, model varchar, previous_model varchar, forced boolean, rollout_override boolean,
        reason varchar, gate_reasons varchar, settings_path varchar, backup_path varchar,
        agent_name varchar, entry varchar, previous_agent varchar, previous_entry varchar,
        undoes varchar)""",
    """create table if not exists bead_transitions (
        job_id varchar, seq integer, argv varchar, status varchar, ts timestamp, bead_id varchar,
        replayed boolean, primary key (job_id, seq))""",
    """create table if not exists bead_jobs (
        job_id varchar primary key, kind varchar, subject varchar, depends_on varchar, created_at timestamp)""",
    """create table if not exists rollout_events (
        event_id varchar primary key, ts timestamp, from_stage integer, to_stage integer, forced boolean,
        reason varchar, who varchar, blockers varchar, rollout_file varchar)""",
]


def registry_db(state: str | os.PathLike | None = None) -> LineageDB:
    """The lineage DuckDB of ``state`` (see :func:`node0_ops.paths.state_dir`) with registry tables."""
    return LineageDB(lineage_db_path(state), extra_ddl=REGISTRY_DDL)
