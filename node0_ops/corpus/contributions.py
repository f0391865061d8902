"""Import a contributed corpus bundle into a new corpus version, and name a version's contributors.

``node0-corpus import bundle.tar`` calls :func:`import_bundle`; ``gt-model show`` lists
:func:`contributors_of` the model's corpus version. Tables (``node0_ops.lineage.db``):

* ``contributions``: one row per accepted bundle: ``bundle_id`` (sha256 of its manifest),
  contributor key and ``SHA256:`` fingerprint, the contributor's corpus version, the version it
  was imported into (``corpus_version``) and merged onto (``base_corpus_version``), counts
  (bundle items, new items, items moved to the base's split), the lineage summary, the time;
* ``contribution_items``: every item of the bundle (``is_new``: the row was written by this
  import, i.e. this contribution is the item's lineage).

Import refuses the whole bundle, writing nothing (:class:`BundleError` naming the bundle and the
reason), when :func:`node0_ops.corpus.bundle.read_bundle` refuses it (tar paths, signature,
member hashes), when a line is malformed or its id is not its content hash, when the manifest's
counts or corpus version (:func:`node0_ops.corpus.store.corpus_version_of`) differ from the
lines, and when the scrubber's full rule set finds a secret or personal data in any text
(:func:`node0_ops.corpus.contribute.rescan`).

Merging: the new version holds the base version's members (default: the latest version; none
in a fresh state) plus the bundle's items. An item whose id is already stored keeps its stored
row; a new item whose ``source_key`` the base already has in another split takes the base's
split, so no source crosses splits (counted as ``n_resplit``); a conflict left after that
refuses the bundle.

Usage::

    from node0_ops.corpus.contributions import contributors_of, import_bundle
    info = import_bundle(db, "bundle.tar")            # {"status": "imported", "corpus_version": ..., ...}
    contributors_of(db, info["corpus_version"])       # [{"contributor_fingerprint": "SHA256:...", ...}]
"""

import json
from pathlib import Path
from types import SimpleNamespace

from node0_ops.corpus import store
from node0_ops.corpus.bundle import BundleError, read_bundle
from node0_ops.corpus.contribute import EXAMPLE_FIELDS, PAIR_FIELDS, decode_items, scan_items
from node0_ops.lineage.db import LineageDB, dumps, upsert


def _members(db: LineageDB, version: str | None) -> tuple[list, list]:
    """(examples, pairs) of ``version`` as namespaces with the columns that version, stats and
    split isolation need."""
    if version is None:
        return [], []
    ex = db.query("""select e.example_id, e.role, e.task, e.split, e.origin, e.source_key, e.n_tokens
                     from examples e join corpus_version_members m on m.item_id = e.example_id
                     and m.item_kind = 'example' where m.corpus_version = ?""", [version])
    dp = db.query("""select p.pair_id, p.role, p.task, p.split, p.failure_mode, p.source_key
                     from dpo_pairs p join corpus_version_members m on m.item_id = p.pair_id
                     and m.item_kind = 'dpo_pair' where m.corpus_version = ?""", [version])
    return [SimpleNamespace(**r) for r in ex], [SimpleNamespace(**r) for r in dp]


def _stored(db: LineageDB, table: str, id_col: str, ids: list[str]) -> dict:
    cols = "example_id, role, task, split, origin, source_key, n_tokens" if table == "examples" \
        else "pair_id, role, task, split, failure_mode, source_key"
    rows = db.query(f"select {cols} from {table} where list_contains(?, {id_col})", [ids])
    return {r[id_col]: SimpleNamespace(**r) for r in rows}


def _merge(items: list, stored: dict, base: list, id_attr: str, key_split: dict) -> tuple[dict, list, int]:
    """Members ``{id: item}`` of base + bundle items, the items to write, and how many changed split."""
    members = {getattr(b, id_attr): b for b in base}
    new, moved = [], 0
    for item in items:
        iid = getattr(item, id_attr)
        if iid in stored:
            members.setdefault(iid, stored[iid])
            continue
        want = key_split.get(item.source_key)
        if want and want != item.split:
            item.split, moved = want, moved + 1
        new.append(item)
        members[iid] = item
    return members, new, moved


def _split_conflicts(touched: set, *groups) -> list[str]:
    splits: dict[str, set] = {}
    for group in groups:
        for item in group:
            if item.source_key in touched:
                splits.setdefault(item.source_key, set()).add(item.split)
    return [f"{k} in {sorted(v)}" for k, v in sorted(splits.items()) if len(v) > 1]


def import_bundle(db: LineageDB, path: str | Path, *, into: str | None = None, merge: bool = True,
                  export_root: str | Path | None = None) -> dict:
    """Verify, re-scan and import a bundle as a new corpus version (see the module docstring).

    Args:
        db: the importer's lineage DB.  path: the bundle tar.
        into: base corpus version to merge onto (default: the latest; ignored with ``merge=False``).
        merge: False makes a version of the bundle's items alone.
        export_root: when given, the new version's TRL-ready JSONL goes to ``export_root/<version>``.

    Returns:
        ``{"status": "imported" | "already-imported", "bundle_id", "fingerprint", "corpus_version",
        "base_corpus_version", "n_examples", "n_pairs", "n_new_examples", "n_new_pairs", "n_resplit"}``;
        an already imported bundle (same id) writes nothing.

    Raises:
        BundleError: the bundle is refused (nothing written).
        ValueError: ``into`` is not a corpus version of ``db``.
    """
    from node0_ops.corpus.pipeline import corpus_stats, count_tokens, export_slice

    bundle = read_bundle(path)
    prior = db.query("select * from contributions where bundle_id = ?", [bundle.bundle_id])
    if prior:
        p = prior[0]
        return {"status": "already-imported", "bundle_id": bundle.bundle_id, "fingerprint": bundle.fingerprint,
                **{k: p[k] for k in ("corpus_version", "base_corpus_version", "n_examples", "n_pairs",
                                     "n_new_examples", "n_new_pairs", "n_resplit")}}
    base = (into or store.latest_corpus_version(db)) if merge else None
    if base is not None and not db.scalar("select count(*) from corpus_versions where corpus_version = ?", [base]):
        raise ValueError(f"--into {base}: no such corpus version in {db.path} (see node0-corpus stats)")
    examples, pairs, summary = decode_items(path, bundle.members)
    counts = bundle.manifest["counts"]
    if (counts["examples"], counts["dpo_pairs"]) != (len(examples), len(pairs)):
        raise BundleError(path, f"manifest counts {counts['examples']} examples / {counts['dpo_pairs']} pairs, "
                                f"the members hold {len(examples)} / {len(pairs)}")
    if not examples:
        raise BundleError(path, "it holds no examples")
    if store.corpus_version_of(examples, pairs) != bundle.manifest["corpus_version"]:
        raise BundleError(path, f"manifest corpus_version {bundle.manifest['corpus_version']} is not the content hash "
                                f"of its items ({store.corpus_version_of(examples, pairs)})")
    scan_items(path, [(f"examples.jsonl line {n} (example {e.example_id})", {k: getattr(e, k) for k in EXAMPLE_FIELDS})
                      for n, e in enumerate(examples, 1)]
               + [(f"dpo_pairs.jsonl line {n} (pair {p.pair_id})", {k: getattr(p, k) for k in PAIR_FIELDS})
                  for n, p in enumerate(pairs, 1)], summary)
    base_ex, base_dp = _members(db, base)
    key_split = {i.source_key: i.split for i in base_ex + base_dp}
    all_ex, new_ex, moved_ex = _merge(examples, _stored(db, "examples", "example_id", [e.example_id for e in examples]),
                                      base_ex, "example_id", key_split)
    all_dp, new_dp, moved_dp = _merge(pairs, _stored(db, "dpo_pairs", "pair_id", [p.pair_id for p in pairs]),
                                      base_dp, "pair_id", key_split)
    conflicts = _split_conflicts({i.source_key for i in examples + pairs}, all_ex.values(), all_dp.values())
    if conflicts:
        raise BundleError(path, f"{len(conflicts)} source(s) would cross splits after the merge onto {base}: "
                                + "; ".join(conflicts[:10]))
    version = store.corpus_version_of(list(all_ex.values()), list(all_dp.values()))
    n_tokens = count_tokens({e.example_id: e.content_text() for e in new_ex})
    stats = corpus_stats(list(all_ex.values()), list(all_dp.values()))
    stats["tokens_total"] = sum(getattr(e, "n_tokens", None) or n_tokens.get(e.example_id) or 0
                                for e in all_ex.values())
    base_row = db.query("select town_root, source_hashes from corpus_versions where corpus_version = ?", [base]) if base else []
    now = store._now()
    with db.write() as con:
        upsert(con, "examples", store.example_rows(new_ex, now, n_tokens))
        upsert(con, "dpo_pairs", store.pair_rows(new_dp, now))
        if not con.execute("select count(*) from corpus_versions where corpus_version = ?", [version]).fetchall()[0][0]:
            upsert(con, "corpus_versions", [{
                "corpus_version": version, "created_at": now, "town_root": base_row[0]["town_root"] if base_row else None,
                "n_examples": len(all_ex), "n_pairs": len(all_dp),
                "source_hashes": base_row[0]["source_hashes"] if base_row else dumps({}),
                "params": dumps({"contribution": bundle.bundle_id, "contributor": bundle.fingerprint,
                                 "base_corpus_version": base, "source_corpus_version": bundle.manifest["corpus_version"]}),
                "stats": dumps(stats)}])
            upsert(con, "corpus_version_members",
                   [{"corpus_version": version, "item_kind": "example", "item_id": i} for i in all_ex]
                   + [{"corpus_version": version, "item_kind": "dpo_pair", "item_id": i} for i in all_dp])
        new_ids = {e.example_id for e in new_ex} | {p.pair_id for p in new_dp}
        upsert(con, "contribution_items",
               [{"bundle_id": bundle.bundle_id, "item_kind": "example", "item_id": e.example_id,
                 "is_new": e.example_id in new_ids} for e in examples]
               + [{"bundle_id": bundle.bundle_id, "item_kind": "dpo_pair", "item_id": p.pair_id,
                   "is_new": p.pair_id in new_ids} for p in pairs])
        upsert(con, "contributions", [{
            "bundle_id": bundle.bundle_id, "contributor_fingerprint": bundle.fingerprint,
            "contributor_key": bundle.public_key, "source_corpus_version": bundle.manifest["corpus_version"],
            "corpus_version": version, "base_corpus_version": base, "n_examples": len(examples), "n_pairs": len(pairs),
            "n_new_examples": len(new_ex), "n_new_pairs": len(new_dp), "n_resplit": moved_ex + moved_dp,
            "lineage_summary": json.dumps(summary, ensure_ascii=False, sort_keys=True),
            "bundle_path": str(Path(path).resolve()), "imported_at": now}])
    if export_root is not None:
        export_slice(db, version, Path(export_root) / version)
    return {"status": "imported", "bundle_id": bundle.bundle_id, "fingerprint": bundle.fingerprint,
            "corpus_version": version, "base_corpus_version": base, "n_examples": len(examples), "n_pairs": len(pairs),
            "n_new_examples": len(new_ex), "n_new_pairs": len(new_dp), "n_resplit": moved_ex + moved_dp}


def contributors_of(db: LineageDB, corpus_version: str | None) -> list[dict]:
    """Contributions whose new items are members of ``corpus_version`` (also through later merges).

    Returns:
        newest first: ``{"contributor_fingerprint", "contributor_key", "bundle_id", "imported_at"
        (ISO), "corpus_version" (imported into), "n_examples", "n_pairs" (of this version's
        members that the contribution brought)}``; ``[]`` when none or no version.
    """
    if not corpus_version:
        return []
    rows = db.query("""
        select c.contributor_fingerprint, c.contributor_key, c.bundle_id, c.imported_at, c.corpus_version,
               count(*) filter (where i.item_kind = 'example') as n_examples,
               count(*) filter (where i.item_kind = 'dpo_pair') as n_pairs
        from contributions c join contribution_items i on i.bundle_id = c.bundle_id and i.is_new
        join corpus_version_members m on m.item_id = i.item_id and m.item_kind = i.item_kind
        where m.corpus_version = ?
        group by all order by c.imported_at desc, c.bundle_id""", [corpus_version])
    for r in rows:
        r["imported_at"] = r["imported_at"].isoformat(timespec="seconds") if r["imported_at"] else None
        r["n_examples"], r["n_pairs"] = int(r["n_examples"]), int(r["n_pairs"])
    return rows
