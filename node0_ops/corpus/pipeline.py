"""Corpus stages as plain functions over the lineage DB (the Dagster assets call these).

    db = open_db(lineage_db_path())
    collect_stage(db, town_root)        # -> summary dict
    scrub_stage(db, Scrubber())
    format_stage(db, town_root=str(town_root), out_dir=artifacts_dir("corpus"))
    export_slice(db, version, out_dir, role="polecat", task="git-workflow")
"""

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from node0_ops.corpus import store
from node0_ops.corpus.schema import DpoPair, Example
from node0_ops.lineage.db import LineageDB


def collect_stage(db: LineageDB, town_root: Path, extra_paths: Sequence[Path] = (),
                  transcript_dirs: Sequence[Path] = ()) -> dict:
    """Collect a town (+ extra sources) into the DB; returns counts incl. quarantine reasons."""
    from node0_ops.corpus.collect import collect_town

    t0 = time.perf_counter()
    result = collect_town(Path(town_root), extra_paths=list(extra_paths), transcript_dirs=list(transcript_dirs))
    summary = store.save_collection(db, result, town_root=str(town_root))
    reasons = Counter(q.reason.split(":")[0] for q in result.quarantine)
    summary["quarantine_reasons"] = dict(reasons)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def scrub_stage(db: LineageDB, scrubber) -> dict:
    """Scrub every current record not yet scrubbed; returns redaction counts by entity type."""
    t0 = time.perf_counter()
    todo = store.load_current_records(db, scrubbed=False, only_unscrubbed=True)
    scrubbed, redactions = [], []
    for rec in todo:
        new, reds = scrubber.scrub_record(rec)
        scrubbed.append(new)
        redactions.extend(reds)
    store.save_scrubbed(db, scrubbed, redactions)
    by_entity = db.query("""select d.entity_type, sum(d.count) as n from redactions d
                            join records r using (record_id) join current_sources c on r.path = c.path and r.sha256 = c.sha256
                            group by 1 order by 2 desc""")
    n_current = db.scalar("select count(*) from records r join current_sources c on r.path = c.path and r.sha256 = c.sha256")
    return {"n_scrubbed_now": len(scrubbed), "n_current": n_current,
            "redactions_by_entity": {r["entity_type"]: int(r["n"]) for r in by_entity},
            "seconds": round(time.perf_counter() - t0, 2)}


def count_tokens(texts: dict[str, str]) -> dict[str, int]:
    """Token counts with the default base model's tokenizer (SmolLM2); {} if it is unavailable."""
    try:
        from tokenizers import Tokenizer

        from node0_ops.models.base import resolve_base

        tok = Tokenizer.from_file(str(resolve_base() / "tokenizer.json"))
    except Exception:  # tokenizer missing: counts are informational only
        return {}
    ids = list(texts)
    encs = tok.encode_batch([texts[i] for i in ids])
    return {i: len(e.ids) for i, e in zip(ids, encs)}


def format_stage(db: LineageDB, *, town_root: str, out_dir: Path, val_frac: float = 0.1,
                 test_frac: float = 0.1, seed: int = 0) -> dict:
    """Format scrubbed records into examples + DPO pairs, partition, version and export them."""
    from node0_ops.corpus.dpo import build_dpo_pairs
    from node0_ops.corpus.format_sft import build_examples
    from node0_ops.corpus.partition import find_contradictions, find_reversions, partition_corpus

    records = store.load_current_records(db, scrubbed=True)
    examples = build_examples(records)
    pairs = build_dpo_pairs(records, examples)
    part = partition_corpus(examples, pairs, val_frac=val_frac, test_frac=test_frac, seed=seed)
    current = {r["path"]: r["sha256"] for r in db.query("select path, sha256 from current_sources")}
    flags = [f.__dict__ if hasattr(f, "__dict__") else dict(f) for f in
             list(find_contradictions(records)) + list(find_reversions(store.file_history(db), current))]
    flags = [{k: v for k, v in f.items() if k in ("kind", "path_a", "path_b", "detail")} for f in flags]
    n_tokens = count_tokens({e.example_id: e.content_text() for e in part.examples})
    stats = corpus_stats(part.examples, part.pairs)
    stats["n_duplicates"] = len(part.duplicates)
    stats["tokens_total"] = sum(n_tokens.values())
    version = store.save_corpus(db, part.examples, part.pairs, town_root=town_root,
                                source_hashes=current, params={"val_frac": val_frac, "test_frac": test_frac, "seed": seed},
                                stats=stats, flags=flags, n_tokens=n_tokens)
    export_dir = Path(out_dir) / version
    write_trl_jsonl(export_dir, part.examples, part.pairs)
    return {"corpus_version": version, "n_examples": len(part.examples), "n_pairs": len(part.pairs),
            "n_duplicates": len(part.duplicates), "n_flags": len(flags), "export_dir": str(export_dir),
            "records_by_kind": dict(Counter(r.kind for r in records)), **stats}


def corpus_stats(examples: Sequence[Example], pairs: Sequence[DpoPair]) -> dict:
    """Counts by role/task, split and failure mode (JSON-friendly keys ``role/task``)."""
    return {
        "by_role_task": dict(Counter(f"{e.role}/{e.task}" for e in examples)),
        "by_split": dict(Counter(e.split for e in examples)),
        "by_origin": dict(Counter(e.origin for e in examples)),
        "pairs_by_failure_mode": dict(Counter(p.failure_mode for p in pairs)),
        "pairs_by_split": dict(Counter(p.split for p in pairs)),
    }


def _sft_row(e) -> dict:
    msgs = e.messages if isinstance(e, Example) else e["messages"]
    text = e.text if isinstance(e, Example) else e["text"]
    return {"messages": msgs} if msgs is not None else {"text": text}


def _dpo_row(p) -> dict:
    get = (lambda k: getattr(p, k)) if isinstance(p, DpoPair) else p.__getitem__
    return {"prompt": get("prompt"), "chosen": [{"role": "assistant", "content": get("chosen")}],
            "rejected": [{"role": "assistant", "content": get("rejected")}], "failure_mode": get("failure_mode")}


def write_trl_jsonl(out_dir: Path, examples, pairs) -> dict[str, int]:
    """Write ``sft_<split>.jsonl`` (``messages`` or ``text``) and ``dpo_<split>.jsonl``
    (conversational ``prompt/chosen/rejected``, TRL's DPO format). Returns rows per file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for split in ("train", "val", "test"):
        for name, items, row in (("sft", examples, _sft_row), ("dpo", pairs, _dpo_row)):
            sel = [x for x in items if (x.split if not isinstance(x, dict) else x["split"]) == split]
            path = out_dir / f"{name}_{split}.jsonl"
            with open(path, "w") as fh:
                for x in sel:
                    fh.write(json.dumps(row(x), ensure_ascii=False) + "\n")
            counts[f"{name}_{split}"] = len(sel)
    return counts


def export_slice(db: LineageDB, version: str, out_dir: Path, *, role: str | None = None,
                 task: str | None = None) -> dict[str, int]:
    """Export one role/task slice of a corpus version as TRL-ready JSONL."""
    examples = store.load_examples(db, version, role=role, task=task)
    pairs = [p for p in store.load_pairs(db, version, role=role) if task is None or p["task"] == task]
    return write_trl_jsonl(out_dir, examples, pairs)
