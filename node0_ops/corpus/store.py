"""Read and write corpus stages in the lineage DB (tables in :mod:`node0_ops.lineage.db`).

The *current* corpus input is the snapshot in ``current_sources`` (path, sha256) that each
full collection replaces and that incremental intake (new sessions) extends; records,
examples and pairs are keyed by content-derived ids, so re-running a stage is idempotent.

Usage::

    db = LineageDB(lineage_db_path())
    save_collection(db, result, town_root="/home/me/gt")
    records = load_current_records(db, scrubbed=True)
"""

import datetime as _dt
import json
from collections.abc import Iterable, Sequence

from node0_ops.corpus.schema import CollectResult, DpoPair, Example, Record, Redaction, stable_id
from node0_ops.lineage.db import LineageDB, dumps, upsert

def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def open_db(path, config: dict | None = None) -> LineageDB:
    """The LineageDB at ``path`` (``config``: DuckDB connection settings)."""
    return LineageDB(path, config=config)


def save_collection(db: LineageDB, result: CollectResult, *, town_root: str, scope: str = "full") -> dict:
    """Write a collect result; ``scope='full'`` replaces the current snapshot of that scope.

    Returns a summary dict (counts by kind, quarantine reasons) for asset metadata.
    """
    now = _now()
    counts: dict[str, int] = {}
    for rec in result.records:
        counts[rec.kind] = counts.get(rec.kind, 0) + 1
    coll_id = stable_id(town_root, scope, sorted((s.path, s.sha256) for s in result.sources))
    with db.write() as con:
        upsert(con, "sources", [{
            "path": s.path, "sha256": s.sha256, "size_bytes": s.size_bytes, "kind": s.kind, "rig": s.rig,
            "role": s.role, "n_records": s.n_records, "n_quarantined": s.n_quarantined,
            "first_seen": now, "last_seen": now} for s in result.sources])
        con.execute("""insert into file_versions select path, sha256, ?, ? from (select distinct path, sha256
                       from sources where last_seen = ?) on conflict do update set last_seen = excluded.last_seen""",
                    [now, now, now])
        known = {r[0] for r in con.execute("select record_id from records where scrubbed_payload is not null").fetchall()}
        rows = []
        for rec in result.records:
            if rec.record_id in known:
                continue  # same bytes already collected and scrubbed
            row = rec.to_row()
            row["scrubbed_payload"] = None
            row["collected_at"] = now
            rows.append(row)
        upsert(con, "records", rows)
        upsert(con, "quarantine", [{
            "qid": stable_id(q.path, q.position, q.reason), "path": q.path, "position": q.position,
            "reason": q.reason, "source_kind": q.source_kind, "collected_at": now} for q in result.quarantine])
        if scope == "full":
            con.execute("delete from current_sources where scope = 'full'")
        upsert(con, "current_sources", [{"path": s.path, "sha256": s.sha256, "kind": s.kind, "scope": scope,
                                         "updated_at": now} for s in result.sources if s.n_records])
        upsert(con, "collections", [{
            "collection_id": coll_id, "created_at": now, "town_root": town_root, "scope": scope,
            "n_sources": len(result.sources), "n_records": len(result.records),
            "n_quarantined": len(result.quarantine), "counts": dumps(counts)}])
    return {"collection_id": coll_id, "n_sources": len(result.sources), "n_records": len(result.records),
            "n_quarantined": len(result.quarantine), "records_by_kind": counts}


_CURRENT = """from records r join current_sources c on r.path = c.path and r.sha256 = c.sha256"""


def load_current_records(db: LineageDB, *, scrubbed: bool, only_unscrubbed: bool = False) -> list[Record]:
    """Records of the current snapshot; with ``scrubbed=True`` their scrubbed payloads.

    Raises:
        ValueError: ``scrubbed=True`` while some current record has not been scrubbed yet.
    """
    where = " where r.scrubbed_payload is null" if only_unscrubbed else ""
    rows = db.query(f"select r.* {_CURRENT}{where} order by r.path, r.line nulls first, r.record_id")
    out = []
    for row in rows:
        if scrubbed:
            if row["scrubbed_payload"] is None:
                raise ValueError(f"record {row['record_id']} ({row['path']}) is not scrubbed yet: materialize scrubbed_records first")
            row = dict(row, payload=row["scrubbed_payload"])
        out.append(Record.from_row(row))
    return out


def save_scrubbed(db: LineageDB, scrubbed: Sequence[Record], redactions: Iterable[Redaction]) -> int:
    """Store scrubbed payloads and redaction counts (never the secrets). Returns records written."""
    with db.write() as con:
        for rec in scrubbed:
            con.execute("update records set scrubbed_payload = ? where record_id = ?",
                        [json.dumps(rec.payload, ensure_ascii=False, default=str), rec.record_id])
        upsert(con, "redactions", [{"record_id": r.record_id, "entity_type": r.entity_type, "count": r.count,
                                    "recognizer": r.recognizer} for r in redactions])
    return len(scrubbed)


def corpus_version_of(examples: Sequence[Example], pairs: Sequence[DpoPair]) -> str:
    """Content hash of a corpus: sha256 over sorted (id, split) of examples and pairs, 16 hex."""
    return stable_id(sorted((e.example_id, e.split) for e in examples), sorted((p.pair_id, p.split) for p in pairs))


def example_rows(examples: Sequence[Example], now: _dt.datetime, n_tokens: dict | None = None) -> list[dict]:
    """``examples`` table rows (messages and meta JSON-encoded)."""
    n_tokens = n_tokens or {}
    return [{
        "example_id": e.example_id, "kind": e.kind, "role": e.role, "task": e.task, "origin": e.origin,
        "source_key": e.source_key, "split": e.split, "record_ids": list(e.record_ids),
        "messages": None if e.messages is None else json.dumps(e.messages, ensure_ascii=False),
        "text": e.text, "meta": dumps(e.meta), "n_tokens": n_tokens.get(e.example_id),
        "created_at": now} for e in examples]


def pair_rows(pairs: Sequence[DpoPair], now: _dt.datetime) -> list[dict]:
    """``dpo_pairs`` table rows (prompt JSON-encoded)."""
    return [{
        "pair_id": p.pair_id, "role": p.role, "task": p.task, "origin": p.origin,
        "failure_mode": p.failure_mode, "source_key": p.source_key, "split": p.split,
        "record_ids": list(p.record_ids), "prompt": json.dumps(p.prompt, ensure_ascii=False),
        "chosen": p.chosen, "rejected": p.rejected, "created_at": now} for p in pairs]


def save_corpus(db: LineageDB, examples: Sequence[Example], pairs: Sequence[DpoPair], *, town_root: str,
                source_hashes: dict, params: dict, stats: dict, flags: Sequence[dict] = (),
                n_tokens: dict | None = None) -> str:
    """Write examples, pairs, flags and a corpus version with its members. Returns the version hash."""
    now = _now()
    version = corpus_version_of(examples, pairs)
    with db.write() as con:
        upsert(con, "examples", example_rows(examples, now, n_tokens))
        upsert(con, "dpo_pairs", pair_rows(pairs, now))
        upsert(con, "corpus_versions", [{
            "corpus_version": version, "created_at": now, "town_root": town_root, "n_examples": len(examples),
            "n_pairs": len(pairs), "source_hashes": dumps(source_hashes), "params": dumps(params),
            "stats": dumps(stats)}])
        upsert(con, "corpus_version_members",
               [{"corpus_version": version, "item_kind": "example", "item_id": e.example_id} for e in examples]
               + [{"corpus_version": version, "item_kind": "dpo_pair", "item_id": p.pair_id} for p in pairs])
        upsert(con, "corpus_flags", [dict(f, flag_id=stable_id(version, f), corpus_version=version, created_at=now)
                                     for f in flags])
    return version


def latest_corpus_version(db: LineageDB) -> str | None:
    """Newest corpus version hash, or None when no corpus was built yet."""
    return db.scalar("select corpus_version from corpus_versions order by created_at desc limit 1")


def current_source_counts(db: LineageDB) -> dict[str, int]:
    """Source files of the current corpus input by kind (``{"transcript": 12, "formula": 54, ...}``)."""
    return {r["kind"]: int(r["n"]) for r in db.query("select kind, count(*) as n from current_sources group by kind")}


def load_examples(db: LineageDB, version: str, *, role: str | None = None, task: str | None = None,
                  split: str | None = None) -> list[dict]:
    """Example rows (messages decoded) of a corpus version, optionally filtered."""
    sql = ["select e.* from examples e join corpus_version_members m on m.item_id = e.example_id",
           "where m.corpus_version = ? and m.item_kind = 'example'"]
    params: list = [version]
    for col, val in (("role", role), ("task", task), ("split", split)):
        if val:
            sql.append(f"and e.{col} = ?")
            params.append(val)
    rows = db.query(" ".join(sql) + " order by e.example_id", params)
    for r in rows:
        r["messages"] = json.loads(r["messages"]) if r["messages"] else None
        r["meta"] = json.loads(r["meta"]) if r["meta"] else {}
    return rows


def load_pairs(db: LineageDB, version: str, *, role: str | None = None, task: str | None = None,
               split: str | None = None) -> list[dict]:
    """DPO pair rows (prompt decoded) of a corpus version, optionally filtered, ordered by ``pair_id``."""
    sql = ["select p.* from dpo_pairs p join corpus_version_members m on m.item_id = p.pair_id",
           "where m.corpus_version = ? and m.item_kind = 'dpo_pair'"]
    params: list = [version]
    for col, val in (("role", role), ("task", task), ("split", split)):
        if val:
            sql.append(f"and p.{col} = ?")
            params.append(val)
    rows = db.query(" ".join(sql) + " order by p.pair_id", params)
    for r in rows:
        r["prompt"] = json.loads(r["prompt"])
    return rows


def file_history(db: LineageDB) -> dict[str, list[str]]:
    """path -> sha256s in first-seen order (for reversion detection)."""
    hist: dict[str, list[str]] = {}
    for row in db.query("select path, sha256 from file_versions order by first_seen, sha256"):
        hist.setdefault(row["path"], []).append(row["sha256"])
    return hist


def leaking_sources(db: LineageDB, version: str) -> list[dict]:
    """Sources of a corpus version whose examples or DPO pairs sit in more than one split:
    ``[{"source_key", "splits": [..]}]`` (empty when the splits are isolated)."""
    return db.query("""
        select source_key, list(distinct split) as splits from (
          select e.source_key, e.split from examples e join corpus_version_members m
            on m.item_id = e.example_id and m.item_kind = 'example' where m.corpus_version = ?
          union all
          select p.source_key, p.split from dpo_pairs p join corpus_version_members m
            on m.item_id = p.pair_id and m.item_kind = 'dpo_pair' where m.corpus_version = ?)
        group by 1 having count(distinct split) > 1""", [version, version])


def version_flags(db: LineageDB, version: str) -> list[dict]:
    """Convention contradictions and reverted files flagged while building ``version``
    (``[{"kind", "path_a", "path_b", "detail"}]``)."""
    return db.query("select kind, path_a, path_b, detail from corpus_flags where corpus_version = ?", [version])


def source_hashes(db: LineageDB, version: str) -> dict[str, str]:
    """``{path: sha256}`` of the sources a corpus version was built from ({} for an unknown version)."""
    raw = db.scalar("select source_hashes from corpus_versions where corpus_version = ?", [version])
    return json.loads(raw) if raw else {}


def collection_quarantine(db: LineageDB, collection_id: str) -> list[dict]:
    """What the collection ``collection_id`` quarantined (``[{"path", "position", "reason"}]``)."""
    return db.query("""select q.path, q.position, q.reason from quarantine q join collections c
                       on q.collected_at = c.created_at where c.collection_id = ? order by q.path, q.position""",
                    [collection_id])


def unscrubbed_records(db: LineageDB, path: str, sha256: str) -> list[Record]:
    """Records of one source file version (``path`` at ``sha256``) not scrubbed yet, in file order."""
    rows = db.query("select * from records where path = ? and sha256 = ? and scrubbed_payload is null "
                    "order by line nulls first, record_id", [str(path), sha256])
    return [Record.from_row(r) for r in rows]


def corpus_stats(db: LineageDB, version: str) -> dict:
    """Counts behind ``node0-corpus stats`` for corpus ``version``.

    Returns ``{"by_cell": [{"role", "task", "split", "n", "tok"}], "by_origin": {origin: n},
    "pairs": [{"failure_mode", "split", "n"}], "redactions": {entity_type: n} (current sources),
    "quarantine": {source_kind: n} (the latest collection), "records_by_kind": {kind: n} (current sources)}``.
    """
    members = ("join corpus_version_members m on m.item_id = e.example_id and m.item_kind = 'example' "
               "where m.corpus_version = ?")
    with db.read() as con:
        def rows(sql: str, params=()) -> list[tuple]:
            return con.execute(sql, list(params)).fetchall()

        by_cell = [dict(zip(("role", "task", "split", "n", "tok"), r)) for r in rows(
            f"select role, task, split, count(*), sum(coalesce(n_tokens, 0)) from examples e {members} group by all",
            [version])]
        by_origin = dict(rows(f"select origin, count(*) from examples e {members} group by all order by 2 desc", [version]))
        pairs = [dict(zip(("failure_mode", "split", "n"), r)) for r in rows(
            "select failure_mode, split, count(*) from dpo_pairs p join corpus_version_members m on m.item_id = p.pair_id "
            "and m.item_kind = 'dpo_pair' where m.corpus_version = ? group by all", [version])]
        redactions = {k: int(n) for k, n in rows(
            "select entity_type, sum(count) from redactions d join records r using (record_id) join current_sources c "
            "on r.path = c.path and r.sha256 = c.sha256 group by 1 order by 2 desc")}
        quarantine = {k or "?": n for k, n in rows(
            "select q.source_kind, count(*) from quarantine q join (select created_at from collections "
            "order by created_at desc limit 1) c on q.collected_at = c.created_at group by 1")}
        by_kind = dict(rows("select r.kind, count(*) from records r join current_sources c on r.path = c.path "
                            "and r.sha256 = c.sha256 group by 1 order by 2 desc"))
    return {"by_cell": by_cell, "by_origin": by_origin, "pairs": pairs, "redactions": redactions,
            "quarantine": quarantine, "records_by_kind": by_kind}
