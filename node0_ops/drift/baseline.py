"""What each role's model was trained on: the corpus version behind its active model.

For each role, the baseline is the ``corpus_version`` of its ``active`` model in the registry
``models`` table; when the role has no active model (or that corpus version is not in this
state's ``corpus_versions``), it is the latest corpus version. Its watched files are the
watched entries of ``corpus_versions.source_hashes`` plus watched files the collector saw
by then that yielded no record (``file_versions``; e.g. an empty CLAUDE.md), so a file that
never produced examples does not look "added" forever.

Usage::

    base = role_baselines(db)                    # {role: Baseline(corpus_version, source, model)}
    hashes = baseline_hashes(db, base["polecat"].corpus_version, town_root)
    counts = example_counts(db, base["polecat"].corpus_version)   # {path: {role: n examples}}
"""

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from node0_ops.corpus.schema import ROLES
from node0_ops.drift.watch import watch_kind
from node0_ops.lineage.db import LineageDB


@dataclass(frozen=True)
class Baseline:
    """A role's reference corpus version.

    Attributes:
        corpus_version: hash in ``corpus_versions`` (None when no corpus was built yet).
        source: ``active-model`` or ``latest-corpus``.
        model: ``name@version`` of the active model when ``source == "active-model"``.
    """

    corpus_version: str | None
    source: str
    model: str | None = None


def table_exists(db: LineageDB, table: str) -> bool:
    """True when ``table`` exists in the lineage DB (without creating it)."""
    return bool(db.scalar("select count(*) from information_schema.tables where table_name = ?", [table]))


def role_baselines(db: LineageDB, roles: Sequence[str] = ROLES) -> dict[str, Baseline]:
    """Baseline per role (see the module doc)."""
    latest = db.scalar("select corpus_version from corpus_versions order by created_at desc limit 1")
    known = {r["corpus_version"] for r in db.query("select corpus_version from corpus_versions")}
    active: dict[str, dict] = {}
    if table_exists(db, "models"):
        for row in db.query("""select role, name, version, corpus_version from models
                               where status = 'active' order by version"""):
            active[row["role"]] = row
    out = {}
    for role in roles:
        row = active.get(role)
        if row and row["corpus_version"] in known:
            out[role] = Baseline(row["corpus_version"], "active-model", f"{row['name']}@{row['version']}")
        else:
            out[role] = Baseline(latest, "latest-corpus")
    return out


def baseline_hashes(db: LineageDB, corpus_version: str | None, town_root: str | os.PathLike,
                    extra_paths: Iterable[str] = ()) -> dict[str, str]:
    """Watched ``{path: sha256}`` of a corpus version (empty when ``corpus_version`` is None).

    Raises:
        ValueError: ``source_hashes`` of that version is not a JSON object.
    """
    if corpus_version is None:
        return {}
    row = db.query("select source_hashes, created_at from corpus_versions where corpus_version = ?", [corpus_version])
    if not row:
        return {}
    try:
        hashes = json.loads(row[0]["source_hashes"] or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"corpus version {corpus_version}: source_hashes is not JSON ({exc})") from None
    if not isinstance(hashes, dict):
        raise ValueError(f"corpus version {corpus_version}: source_hashes is not a {{path: sha256}} object")
    extra = list(extra_paths)
    out = {p: s for p, s in hashes.items() if watch_kind(p, town_root, extra)}
    # files collected by then that produced no record are not in source_hashes: take their
    # latest version seen at or before the corpus was built
    for fv in db.query("""select path, sha256 from file_versions where first_seen <= ?
                          order by path, last_seen""", [row[0]["created_at"]]):
        if fv["path"] not in hashes and watch_kind(fv["path"], town_root, extra):
            out[fv["path"]] = fv["sha256"]
    return dict(sorted(out.items()))


def example_counts(db: LineageDB, corpus_version: str | None) -> dict[str, dict[str, int]]:
    """``{path: {role: n}}``: SFT examples of each role in ``corpus_version`` derived from each file.

    An example counts once for every file one of its records (``examples.record_ids`` ->
    ``records.path``) came from.
    """
    if corpus_version is None:
        return {}
    rows = db.query("""
        select r.path, e.role, count(distinct e.example_id) as n
        from examples e
        join corpus_version_members m on m.item_id = e.example_id and m.item_kind = 'example'
        cross join unnest(e.record_ids) as u(rid)
        join records r on r.record_id = u.rid
        where m.corpus_version = ?
        group by 1, 2""", [corpus_version])
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["path"], {})[r["role"]] = int(r["n"])
    return out


def role_example_totals(db: LineageDB, corpus_version: str | None) -> dict[str, int]:
    """``{role: n examples}`` in ``corpus_version`` (for the "share of the role's corpus" report)."""
    if corpus_version is None:
        return {}
    rows = db.query("""select e.role, count(*) as n from examples e join corpus_version_members m
                       on m.item_id = e.example_id and m.item_kind = 'example'
                       where m.corpus_version = ? group by 1""", [corpus_version])
    return {r["role"]: int(r["n"]) for r in rows}
