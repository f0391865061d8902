-- Every table of the lineage/registry DuckDB (<state>/lineage.duckdb), in one place.
-- Applied by node0_ops.lineage.schema.apply when a LineageDB opens (once per process and file);
-- the schema version and the forward migrations are in node0_ops/lineage/schema.py. Each domain's
-- SQL lives in the repository module named in its section, never in the Dagster layer.

-- corpus: collected sources and records, scrubbing, examples, DPO pairs, versions (node0_ops.corpus.store)
create table if not exists sources (
    path varchar,
    sha256 varchar,
    size_bytes bigint,
    kind varchar,
    rig varchar,
    role varchar,
    n_records integer,
    n_quarantined integer,
    first_seen timestamp,
    last_seen timestamp,
    primary key (path, sha256)
);

create table if not exists records (
    record_id varchar primary key,
    kind varchar,
    source_key varchar,
    path varchar,
    sha256 varchar,
    line integer,
    byte_offset bigint,
    rig varchar,
    role varchar,
    payload varchar,
    scrubbed_payload varchar,
    collected_at timestamp
);

create table if not exists quarantine (
    qid varchar primary key,
    path varchar,
    position varchar,
    reason varchar,
    source_kind varchar,
    collected_at timestamp
);

create table if not exists redactions (
    record_id varchar,
    entity_type varchar,
    count integer,
    recognizer varchar,
    primary key (record_id, entity_type, recognizer)
);

create table if not exists examples (
    example_id varchar primary key,
    kind varchar,
    role varchar,
    task varchar,
    origin varchar,
    source_key varchar,
    split varchar,
    record_ids varchar[],
    messages varchar,
    text varchar,
    meta varchar,
    n_tokens integer,
    created_at timestamp
);

create table if not exists dpo_pairs (
    pair_id varchar primary key,
    role varchar,
    task varchar,
    origin varchar,
    failure_mode varchar,
    source_key varchar,
    split varchar,
    record_ids varchar[],
    prompt varchar,
    chosen varchar,
    rejected varchar,
    created_at timestamp
);

create table if not exists corpus_versions (
    corpus_version varchar primary key,
    created_at timestamp,
    town_root varchar,
    n_examples integer,
    n_pairs integer,
    source_hashes varchar,
    params varchar,
    stats varchar
);

create table if not exists corpus_version_members (
    corpus_version varchar,
    item_kind varchar,
    item_id varchar,
    primary key (corpus_version, item_kind, item_id)
);

create table if not exists corpus_flags (
    flag_id varchar primary key,
    corpus_version varchar,
    kind varchar,
    path_a varchar,
    path_b varchar,
    detail varchar,
    created_at timestamp
);

create table if not exists file_versions (
    path varchar,
    sha256 varchar,
    first_seen timestamp,
    last_seen timestamp,
    primary key (path, sha256)
);

create table if not exists contributions (
    bundle_id varchar primary key,
    contributor_fingerprint varchar,
    contributor_key varchar,
    source_corpus_version varchar,
    corpus_version varchar,
    base_corpus_version varchar,
    n_examples integer,
    n_pairs integer,
    n_new_examples integer,
    n_new_pairs integer,
    n_resplit integer,
    lineage_summary varchar,
    bundle_path varchar,
    imported_at timestamp
);

create table if not exists contribution_items (
    bundle_id varchar,
    item_kind varchar,
    item_id varchar,
    is_new boolean,
    primary key (bundle_id, item_kind, item_id)
);

create table if not exists current_sources (
    path varchar primary key,
    sha256 varchar,
    kind varchar,
    scope varchar,
    updated_at timestamp
);

create table if not exists collections (
    collection_id varchar primary key,
    created_at timestamp,
    town_root varchar,
    scope varchar,
    n_sources integer,
    n_records integer,
    n_quarantined integer,
    counts varchar
);

-- intake: closed sessions handed in by the SessionEnd hook or found by the new_sessions sensor (node0_ops.drift.sessions)
create table if not exists intake_sessions (
    session_key varchar primary key,
    path varchar,
    sha256 varchar,
    size_bytes bigint,
    role varchar,
    rig varchar,
    cwd varchar,
    discovered_at timestamp,
    status varchar,
    n_records integer,
    n_quarantined integer,
    collected_at timestamp
);

-- training runs and their per-step metrics (node0_ops.train.tracking)
create table if not exists train_runs (
    run_id varchar primary key,
    kind varchar,
    role varchar,
    task varchar,
    base varchar,
    base_fingerprint varchar,
    corpus_version varchar,
    corpus_hash varchar,
    config varchar,
    status varchar,
    pid integer,
    pgid integer,
    started_at timestamp,
    ended_at timestamp,
    run_dir varchar,
    adapter_path varchar,
    parent_adapter varchar,
    metrics varchar,
    resumed_from varchar,
    mismatch_allowed boolean,
    error varchar
);

create table if not exists train_metrics (
    run_id varchar,
    step integer,
    loss double,
    lr double,
    grad_norm double,
    tokens_per_s double,
    peers integer,
    val_loss double,
    ts timestamp,
    primary key (run_id, step)
);

-- exports and eval reports (node0_ops.evals.reports)
create table if not exists exports (
    export_dir varchar primary key,
    role varchar,
    adapter_dir varchar,
    corpus_version varchar,
    created_at timestamp,
    result varchar
);

create table if not exists eval_reports (
    report_id varchar primary key,
    role varchar,
    model_label varchar,
    gguf_path varchar,
    export_dir varchar,
    suite varchar,
    corpus_version varchar,
    created_at timestamp,
    overall double,
    base_overall double,
    constrained_overall double,
    passed boolean,
    reasons varchar,
    report varchar,
    base_report varchar,
    constrained_report varchar,
    base_constrained_report varchar,
    kind varchar,             -- role | task | dpo: what the candidate adds (schema v2)
    task varchar,             -- the task adapter's task (kind = task)
    baseline_label varchar    -- what base_* scored: "base", or the role model without the stacked adapter
);

-- registry: models, adapters, deployments, job beads, rollout (node0_ops.registry.store)
create table if not exists models (
    name varchar primary key,
    role varchar,
    base varchar,
    version integer,
    lora_rank integer,
    trained_at timestamp,
    corpus_examples integer,
    corpus_version varchar,
    dpo_pairs integer,
    eval_score double,
    eval_report varchar,
    adapters varchar[],
    status varchar,
    deployed_rigs varchar[],
    artifacts varchar,
    run_id varchar,
    created_at timestamp,
    notes varchar,
    hyperparameters varchar,
    chat_template varchar
);

create table if not exists adapters (
    name varchar,
    version integer,
    kind varchar,
    task varchar,
    role varchar,
    path varchar,
    gguf_path varchar,
    sha256 varchar,
    compatible_models varchar[],
    run_id varchar,
    corpus_version varchar,
    base varchar,
    created_at timestamp,
    eval_report_id varchar,   -- stacked adapters: eval of base + role + this vs base + role (schema v2)
    eval_score double,
    baseline_score double,
    export_dir varchar,
    primary key (name, version)
);

create table if not exists deployments (
    deploy_id varchar primary key,
    ts timestamp,
    action varchar,
    role varchar,
    scope varchar,
    rig varchar,
    model varchar,
    previous_model varchar,
    forced boolean,
    rollout_override boolean,
    reason varchar,
    gate_reasons varchar,
    settings_path varchar,
    backup_path varchar,
    agent_name varchar,
    entry varchar,
    previous_agent varchar,
    previous_entry varchar,
    undoes varchar
);

create table if not exists bead_transitions (
    job_id varchar,
    seq integer,
    argv varchar,
    status varchar,
    ts timestamp,
    bead_id varchar,
    replayed boolean,
    primary key (job_id, seq)
);

create table if not exists bead_jobs (
    job_id varchar primary key,
    kind varchar,
    subject varchar,
    depends_on varchar,
    created_at timestamp
);

create table if not exists rollout_events (
    event_id varchar primary key,
    ts timestamp,
    from_stage integer,
    to_stage integer,
    forced boolean,
    reason varchar,
    who varchar,
    blockers varchar,
    rollout_file varchar
);

-- sensors' decisions and ticks (node0_ops.drift.decisions)
create table if not exists sensor_decisions (
    decision_id varchar primary key,
    ts timestamp,
    sensor varchar,
    decision varchar,
    roles varchar[],
    score double,
    files varchar,
    run_keys varchar[],
    detail varchar
);

create table if not exists sensor_ticks (
    sensor varchar primary key,
    ts timestamp,
    outcome varchar,
    detail varchar
);

-- compact-prime reports (node0_ops.serve.prime)
create table if not exists prime_reports (
    report_id varchar primary key,
    ts timestamp,
    town_root varchar,
    role varchar,
    rig varchar,
    query varchar,
    budget_tokens integer,
    full_tokens integer,
    full_bytes bigint,
    compact_tokens integer,
    compact_bytes bigint,
    token_ratio double,
    byte_ratio double,
    n_chunks integer,
    components varchar,
    chunk_ids varchar[]
);
