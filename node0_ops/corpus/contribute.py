"""Corpus contribution without a GPU: a scrubbed corpus version as a signed bundle, and its lines.

``node0-corpus contribute --out bundle.tar`` calls :func:`contribute`; ``node0-corpus import``
(:mod:`node0_ops.corpus.contributions`) reads the lines back with :func:`decode_items`.

Bundle members (container, manifest and signature: :mod:`node0_ops.corpus.bundle`):

* ``examples.jsonl``: ``example_id, kind, role, task, origin, source_key, split, messages, text,
  meta`` (``messages`` OpenAI-shape, see :class:`node0_ops.corpus.schema.Example`);
* ``dpo_pairs.jsonl``: ``pair_id, role, task, origin, failure_mode, source_key, split, prompt,
  chosen, rejected`` (TRL conversational DPO, see :class:`node0_ops.corpus.schema.DpoPair`);
* ``lineage_summary.json``: counts only (:func:`lineage_summary`).

Left out: sources, records, transcripts, record ids, file paths and hashes, the town root;
``meta["path"]`` is cut to the file name. Ids are content hashes, so the importer recomputes
each one from its line.

Before writing, every text is re-scanned with the scrubber's full rule set (:func:`rescan`);
the bundle is refused when anything is found, as the importer would refuse it.

Usage::

    from node0_ops.corpus.contribute import contribute
    info = contribute(db, "bundle.tar", version=store.latest_corpus_version(db), key=private_key)
    info["bundle_id"], info["n_examples"], info["n_pairs"]
"""

import json
from collections.abc import Sequence
from pathlib import Path, PurePath

from node0_ops.corpus import store
from node0_ops.corpus.bundle import BundleError, write_bundle
from node0_ops.corpus.schema import SPLITS, DpoPair, Example
from node0_ops.lineage.db import LineageDB

EXAMPLE_FIELDS = ("example_id", "kind", "role", "task", "origin", "source_key", "split", "messages", "text", "meta")
PAIR_FIELDS = ("pair_id", "role", "task", "origin", "failure_mode", "source_key", "split", "prompt", "chosen", "rejected")
MAX_PROBLEMS = 10  # problems named in one refusal message


def strings(obj, out: list[str] | None = None, *, keys: bool = False) -> list[str]:
    """Every string value in a JSON-like object, depth first (dict keys too with ``keys=True``)."""
    out = [] if out is None else out
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if keys:
                out.append(str(k))
            strings(v, out, keys=keys)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            strings(v, out, keys=keys)
    return out


def item_texts(row: dict) -> list[str]:
    """The texts of an example or pair line that are re-scanned: every string but the id and
    the enum fields (kind, role, task, split, origin), meta and source_key included."""
    skip = {"example_id", "pair_id", "kind", "role", "task", "split", "origin"}
    return strings({k: v for k, v in row.items() if k not in skip})


def rescan(texts: Sequence[str]) -> list:
    """``[(text_index, Finding)]`` of the scrubber's rules in ``texts``, sorted.

    Two passes, both this project's scrubber rules (:mod:`node0_ops.corpus.recognizers`):
    :meth:`Scrubber.scan` (what the blocking ``corpus_version_no_secrets`` check runs) and the
    leaks of :func:`node0_ops.corpus.scrub.audit` on every text (the same rules inside presidio's
    full registry, as ``node0-corpus audit`` runs them). presidio's built-in-only hits (URL,
    DATE_TIME, ...) are review noise and not returned. Placeholders never count. Each distinct
    text is scanned once (a corpus repeats its system prompts and meta values: ~7x fewer scans).
    """
    from node0_ops.corpus.scrub import Scrubber, audit

    where: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        where.setdefault(text, []).append(i)
    uniq = list(where)
    if not uniq:
        return []
    found = {(u, f.entity_type, f.start, f.end): f for u, f in audit(uniq, sample=len(uniq), seed=0).leaks}
    scan = Scrubber().scan
    for u, text in enumerate(uniq):
        for f in scan(text):
            found.setdefault((u, f.entity_type, f.start, f.end), f)
    return sorted(((i, found[k]) for k in found for i in where[uniq[k[0]]]), key=lambda x: (x[0], x[1].start))


def refuse_findings(path, labels: Sequence[str], texts_of: Sequence[int], findings: list) -> None:
    """Raise :class:`BundleError` naming up to :data:`MAX_PROBLEMS` findings by item label.

    Args:
        labels: one label per item (``examples.jsonl line 3 (example 1a2b...)``).
        texts_of: for each scanned text, the index of its item in ``labels``.
        findings: :func:`rescan` output (nothing raised when empty).
    """
    if not findings:
        return
    named = [f"{labels[texts_of[i]]}: {f.entity_type} by {f.recognizer} ({f.preview})" for i, f in findings]
    more = f"; and {len(named) - MAX_PROBLEMS} more" if len(named) > MAX_PROBLEMS else ""
    raise BundleError(path, f"{len(named)} secret/PII finding(s) by the scrubber's rules: "
                            + "; ".join(named[:MAX_PROBLEMS]) + more)


def scan_items(path, rows: Sequence[tuple[str, dict]], summary: dict) -> None:
    """Re-scan ``(label, line dict)`` items (:func:`item_texts`) and the lineage summary (keys
    and values) with :func:`rescan`; refuse any finding.

    Raises:
        BundleError: a secret or personal data in any item (names the items).
    """
    texts, texts_of, labels = [], [], []
    for label, got in [(label, item_texts(row)) for label, row in rows] + [
            ("lineage_summary.json", strings(summary, keys=True))]:
        labels.append(label)
        for t in got:
            texts.append(t)
            texts_of.append(len(labels) - 1)
    refuse_findings(path, labels, texts_of, rescan(texts))


def _public_meta(meta: dict) -> dict:
    return {k: (PurePath(v).name if k == "path" and isinstance(v, str) else v) for k, v in (meta or {}).items()}


def example_line(row: dict) -> dict:
    """Bundle line of an ``examples`` row (as :func:`store.load_examples` returns it)."""
    return {**{k: row[k] for k in EXAMPLE_FIELDS if k != "meta"}, "meta": _public_meta(row.get("meta") or {})}


def pair_line(row: dict) -> dict:
    """Bundle line of a ``dpo_pairs`` row (as :func:`store.load_pairs` returns it)."""
    return {k: row[k] for k in PAIR_FIELDS}


def jsonl(lines: Sequence[dict]) -> bytes:
    """One sorted-key JSON object per line, UTF-8."""
    return "".join(json.dumps(x, ensure_ascii=False, sort_keys=True) + "\n" for x in lines).encode()


def lineage_summary(db: LineageDB, version: str) -> dict:
    """Counts that say where a version came from without saying where the files are.

    Returns:
        ``{"corpus_version", "n_examples", "n_pairs", "params", "stats", "n_source_files",
        "records_by_kind": {kind: n}, "redactions_by_entity": {entity: n},
        "contributors": [{"fingerprint", "bundle_id", "n_examples", "n_pairs"}]}`` (upstream
        contributions this version already holds).
    """
    from node0_ops.corpus.contributions import contributors_of

    row = db.query("select * from corpus_versions where corpus_version = ?", [version])[0]
    recs = """with rids as (
        select unnest(e.record_ids) rid from examples e join corpus_version_members m
          on m.item_id = e.example_id and m.item_kind = 'example' where m.corpus_version = ?
        union select unnest(p.record_ids) from dpo_pairs p join corpus_version_members m
          on m.item_id = p.pair_id and m.item_kind = 'dpo_pair' where m.corpus_version = ?)"""
    kinds = db.query(recs + " select r.kind, count(*) n from records r join rids on r.record_id = rids.rid group by 1",
                     [version, version])
    reds = db.query(recs + " select d.entity_type, sum(d.count) n from redactions d join rids on d.record_id = rids.rid "
                    "group by 1", [version, version])
    return {"corpus_version": version, "n_examples": row["n_examples"], "n_pairs": row["n_pairs"],
            "params": json.loads(row["params"] or "{}"), "stats": json.loads(row["stats"] or "{}"),
            "n_source_files": len(json.loads(row["source_hashes"] or "{}")),
            "records_by_kind": {r["kind"]: int(r["n"]) for r in sorted(kinds, key=lambda r: r["kind"])},
            "redactions_by_entity": {r["entity_type"]: int(r["n"]) for r in sorted(reds, key=lambda r: r["entity_type"])},
            "contributors": [{"fingerprint": c["contributor_fingerprint"], "bundle_id": c["bundle_id"],
                              "n_examples": c["n_examples"], "n_pairs": c["n_pairs"]} for c in contributors_of(db, version)]}


def contribute(db: LineageDB, out: str | Path, *, version: str, key) -> dict:
    """Write corpus ``version`` of ``db`` as a signed bundle at ``out``.

    Args:
        key: the contributor's ``Ed25519PrivateKey`` (:mod:`node0_ops.corpus.contributor_key`).

    Returns:
        ``{"bundle_id", "path", "corpus_version", "fingerprint", "n_examples", "n_pairs"}``.

    Raises:
        ValueError: ``version`` has no examples.
        BundleError: the scrubber's rules find a secret or personal data in an item (nothing written).
    """
    examples = [example_line(r) for r in store.load_examples(db, version)]
    pairs = [pair_line(r) for r in store.load_pairs(db, version)]
    if not examples:
        raise ValueError(f"corpus version {version} has no examples in {db.path}: nothing to contribute")
    summary = lineage_summary(db, version)
    scan_items(out, [(f"example {e['example_id']}", e) for e in examples]
               + [(f"pair {p['pair_id']}", p) for p in pairs], summary)
    bundle = write_bundle(out, {"examples.jsonl": jsonl(examples), "dpo_pairs.jsonl": jsonl(pairs),
                                "lineage_summary.json": json.dumps(summary, indent=1, sort_keys=True).encode()},
                          corpus_version=version, counts={"examples": len(examples), "dpo_pairs": len(pairs)}, key=key)
    return {"bundle_id": bundle.bundle_id, "path": str(bundle.path), "corpus_version": version,
            "fingerprint": bundle.fingerprint, "n_examples": len(examples), "n_pairs": len(pairs)}


def _problem(problems: list, where: str, what: str) -> None:
    problems.append(f"{where}: {what}")


def _is_messages(value) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)


def _shape_error(row: dict) -> str:
    """'' when the line's values have the types of the schema, else what is wrong."""
    for k in ("role", "task", "origin", "source_key", "split", "failure_mode", "chosen", "rejected", "kind"):
        if k in row and not isinstance(row[k], str):
            return f"{k} must be a string"
    if "meta" in row and not isinstance(row["meta"], dict):
        return "meta must be an object"
    if "messages" in row and row["messages"] is not None and not _is_messages(row["messages"]):
        return "messages must be a list of objects with a string role"
    if "text" in row and row["text"] is not None and not isinstance(row["text"], str):
        return "text must be a string or null"
    if "prompt" in row and not (_is_messages(row["prompt"]) and row["prompt"]):
        return "prompt must be a non-empty list of objects with a string role"
    return ""


def decode_items(path, members: dict) -> tuple[list[Example], list[DpoPair], dict]:
    """Parse and check a verified bundle's data members.

    Each line must be a JSON object with the fields above, valid for :class:`Example` /
    :class:`DpoPair` (role, task, exactly one of messages/text, chosen != rejected), a split in
    :data:`SPLITS`, and an id equal to the hash of its content; ids must be unique.

    Returns:
        (examples, pairs, lineage summary dict); ``record_ids`` are empty (no records travel).

    Raises:
        BundleError: naming up to :data:`MAX_PROBLEMS` ``member line N: reason`` problems.
    """
    problems: list[str] = []
    out: dict[str, list] = {"examples.jsonl": [], "dpo_pairs.jsonl": []}
    for name, fields, cls, id_field in (("examples.jsonl", EXAMPLE_FIELDS, Example, "example_id"),
                                        ("dpo_pairs.jsonl", PAIR_FIELDS, DpoPair, "pair_id")):
        seen: set[str] = set()
        try:
            text = members[name].decode("utf-8")
        except UnicodeDecodeError as exc:
            _problem(problems, name, f"not UTF-8 ({exc})")
            continue
        for n, line in enumerate(text.splitlines(), 1):
            where = f"{name} line {n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                _problem(problems, where, f"invalid JSON ({exc})")
                continue
            if not isinstance(row, dict) or set(row) != set(fields):
                got = sorted(row) if isinstance(row, dict) else type(row).__name__
                _problem(problems, where, f"fields {got} must be exactly {sorted(fields)}")
                continue
            if row["split"] not in SPLITS:
                _problem(problems, where, f"split {row['split']!r} is not one of {SPLITS}")
                continue
            bad = _shape_error(row)
            if bad:
                _problem(problems, where, bad)
                continue
            kw = {k: v for k, v in row.items() if k != id_field}
            try:
                item = cls(record_ids=[], **kw)
            except (TypeError, ValueError) as exc:
                _problem(problems, where, str(exc))
                continue
            if cls is Example and item.kind != ("chat" if item.messages is not None else "text"):
                _problem(problems, where, f"kind {item.kind!r}: must be 'chat' with messages or 'text' with text")
                continue
            if getattr(item, id_field) != row[id_field]:
                _problem(problems, where, f"{id_field} {row[id_field]!r} is not the hash of its content "
                                          f"({getattr(item, id_field)})")
                continue
            if row[id_field] in seen:
                _problem(problems, where, f"duplicate {id_field} {row[id_field]}")
                continue
            seen.add(row[id_field])
            out[name].append(item)
    try:
        summary = json.loads(members["lineage_summary.json"].decode("utf-8"))
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        _problem(problems, "lineage_summary.json", f"not a UTF-8 JSON object ({exc})")
        summary = {}
    if problems:
        more = f"; and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise BundleError(path, f"{len(problems)} bad line(s): " + "; ".join(problems[:MAX_PROBLEMS]) + more)
    return out["examples.jsonl"], out["dpo_pairs.jsonl"], summary

