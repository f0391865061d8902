"""``node0-corpus``: build, inspect and export the training corpus.

    node0-corpus build [--town ~/gt] [--extra PATH ...] [--transcripts DIR ...]
    node0-corpus stats [--min-per-cell 5] [--json]
    node0-corpus preview [--role polecat] [--task git-workflow] [--split train] [-n 3] [--dpo]
    node0-corpus audit [--sample 200]
    node0-corpus export --out DIR [--role R] [--task T]
    node0-corpus contribute --out bundle.tar [--key FILE] [--version V]
    node0-corpus import bundle.tar [--into V | --no-merge]

``contribute`` signs a scrubbed corpus version (examples, DPO pairs, a lineage summary; no
sources, records or transcripts) with the operator's Ed25519 key (``<state>/keys/contributor_ed25519``,
generated on first use, unless ``--key``). ``import`` verifies the signature and every member's
sha256, re-scans every text with the scrubber's full rule set, and only then adds the items as a
new corpus version (merged onto the latest one unless ``--no-merge``); a refused bundle writes
nothing (node0_ops.corpus.contributions).

``--state-dir`` and ``--town`` work before or after the subcommand.
"""

import argparse
import json
import sys
from pathlib import Path

import dagster as dg

from gastown_assets.cli.common import add_common_flags, apply_common_flags, materialize, share_common_flags
from node0_ops.corpus import store
from node0_ops.corpus.schema import ROLES, TASKS
from node0_ops.paths import artifacts_dir, lineage_db_path, state_dir, town_root


def _db():
    return store.open_db(lineage_db_path())


def _version(db, requested: str | None) -> str:
    version = requested or store.latest_corpus_version(db)
    if version is None:
        sys.exit("no corpus built yet in this state directory: run `node0-corpus build` first "
                 "(or pass --state-dir to the directory that holds one)")
    return version


def cmd_build(args) -> int:
    from gastown_assets.defs.corpus import assets, checks
    from resources import LineageResource, ScrubberResource, TownResource

    try:
        root = town_root(args.town)
    except FileNotFoundError as exc:
        sys.exit(str(exc))
    print(f"building corpus of {root}" + (f" + {len(args.extra)} extra source(s)" if args.extra else ""))
    resources = {"lineage": LineageResource(), "scrubber": ScrubberResource(use_ner=args.ner),
                 "town": TownResource(root=str(root), extra_sources=args.extra, transcript_dirs=args.transcripts)}
    selection = [assets.collected_records, assets.scrubbed_records, assets.corpus_version,
                 checks.scrubbed_records_no_secrets, checks.corpus_version_no_secrets,
                 checks.corpus_version_split_isolation, checks.corpus_version_role_coverage,
                 checks.corpus_version_convention_flags, checks.collected_records_quarantine]
    result = materialize(selection, resources=resources)
    for mat in result.get_asset_materialization_events():
        md = mat.materialization.metadata
        key = mat.asset_key.to_user_string()
        brief = {k: v.value for k, v in md.items() if k.startswith("n_") or k in ("corpus_version",)}
        print(f"  {key}: {brief}")
    for ev in result.get_asset_check_evaluations():
        print(f"  check {ev.check_name}: {'passed' if ev.passed else 'FAILED (' + ev.severity.value + ')'}")
    print(f"state: {lineage_db_path().parent}\nnext: node0-corpus stats")
    return 0


def cmd_stats(args) -> int:
    db = _db()
    version = _version(db, args.version)
    stats = store.corpus_stats(db, version)
    by_cell, pairs = stats["by_cell"], stats["pairs"]
    cells = {}
    for r in by_cell:
        cells.setdefault((r["role"], r["task"]), {}).update({r["split"]: r["n"]})
    gaps = [(ro, t, sum(cells.get((ro, t), {}).values())) for ro in ROLES for t in TASKS
            if sum(cells.get((ro, t), {}).values()) < args.min_per_cell]
    data = {"corpus_version": version,
            "examples": [{"role": ro, "task": t, **v} for (ro, t), v in sorted(cells.items())],
            "tokens": sum(r["tok"] or 0 for r in by_cell), "by_origin": stats["by_origin"],
            "records_by_source_kind": stats["records_by_kind"],
            "dpo_pairs": pairs, "redactions": stats["redactions"], "quarantine": stats["quarantine"],
            "coverage_gaps": [{"role": a, "task": b, "n": n} for a, b, n in gaps]}
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    print(f"corpus {version}: {sum(r['n'] for r in by_cell)} examples, {sum(p['n'] for p in pairs)} DPO pairs, "
          f"{data['tokens']} tokens (SmolLM2 tokenizer)")
    print(f"\n{'role':10} {'task':16} {'train':>6} {'val':>5} {'test':>5}")
    for (ro, t), v in sorted(cells.items()):
        print(f"{ro:10} {t:16} {v.get('train', 0):>6} {v.get('val', 0):>5} {v.get('test', 0):>5}")
    for title, d in (("records by source kind", data["records_by_source_kind"]), ("examples by origin", data["by_origin"]),
                     ("redactions", data["redactions"]), ("quarantine", data["quarantine"] or {"(none)": 0})):
        print(f"\n{title}: " + ", ".join(f"{k}={v}" for k, v in d.items()))
    fm = {}
    for p in pairs:
        fm[p["failure_mode"]] = fm.get(p["failure_mode"], 0) + p["n"]
    print("\nDPO pairs by failure mode: " + ", ".join(f"{k}={v}" for k, v in sorted(fm.items())))
    print(f"\ncoverage gaps (< {args.min_per_cell} examples): {len(gaps)} of {len(ROLES) * len(TASKS)} role x task cells")
    for ro in ROLES:
        missing = [t for a, t, _ in gaps if a == ro]
        if missing:
            print(f"  {ro}: {', '.join(missing)}")
    return 0


def cmd_preview(args) -> int:
    db = _db()
    version = _version(db, args.version)
    if args.dpo:
        rows = [p for p in store.load_pairs(db, version, role=args.role, split=args.split)
                if not args.task or p["task"] == args.task][: args.n]
        for p in rows:
            print(f"--- pair {p['pair_id']} [{p['role']}/{p['task']}/{p['split']}] failure_mode={p['failure_mode']}")
            print(f"prompt: {p['prompt'][-1]['content'][:400]}\n+ chosen: {p['chosen'][:400]}\n- rejected: {p['rejected'][:400]}")
    else:
        rows = store.load_examples(db, version, role=args.role, task=args.task, split=args.split)[: args.n]
        for ex in rows:
            print(f"--- example {ex['example_id']} [{ex['role']}/{ex['task']}/{ex['split']}] origin={ex['origin']}")
            for m in ex["messages"] or [{"role": "text", "content": ex["text"]}]:
                body = m.get("content") or json.dumps(m.get("tool_calls"))
                print(f"{m['role']:>9}: {str(body)[:400]}")
    if not rows:
        print("no matching examples (try without --role/--task, or see `node0-corpus stats`)")
    return 0


def cmd_audit(args) -> int:
    from node0_ops.corpus.scrub import audit

    db = _db()
    version = _version(db, args.version)
    texts = []
    for ex in store.load_examples(db, version):
        texts.append(json.dumps(ex["messages"], ensure_ascii=False) if ex["messages"] else ex["text"])
    for p in store.load_pairs(db, version):
        texts.append(json.dumps([p["prompt"], p["chosen"], p["rejected"]], ensure_ascii=False))
    report = audit(texts, sample=args.sample, seed=args.seed)
    print(report.summary() if hasattr(report, "summary") else report)
    return 1 if report.n_leaks else 0


def cmd_export(args) -> int:
    from node0_ops.corpus.pipeline import export_slice

    db = _db()
    version = _version(db, args.version)
    out = Path(args.out)
    counts = export_slice(db, version, out, role=args.role, task=args.task)
    print(f"wrote {out}: " + ", ".join(f"{k}.jsonl={v}" for k, v in counts.items()))
    return 0


def cmd_contribute(args) -> int:
    from node0_ops.corpus.contribute import contribute
    from node0_ops.corpus.contributor_key import load_or_create_key

    db = _db()
    version = _version(db, args.version)
    try:
        key, key_path, created = load_or_create_key(args.key, state_dir())
        info = contribute(db, args.out, version=version, key=key)
    except ValueError as exc:  # KeyFileError and BundleError included
        sys.exit(str(exc))
    if created:
        print(f"generated contributor key {key_path} (mode 600; it signs your future bundles, keep it)")
    print(f"wrote {info['path']}: {info['n_examples']} examples, {info['n_pairs']} DPO pairs of corpus {version}\n"
          f"bundle id {info['bundle_id']}\nsigned by {info['fingerprint']} ({key_path})")
    return 0


def _report_imported_version(info: dict) -> None:
    """A runless ``corpus_version`` materialization for the version the import made, so training
    stages (which take the corpus version Dagster recorded) train on it and the UI shows where it came from."""
    instance = dg.DagsterInstance.get()
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "corpus_version", description=f"node0-corpus import of bundle {info['bundle_id']}",
        metadata={"corpus_version": info["corpus_version"], "source": "node0-corpus import",
                  "bundle_id": info["bundle_id"], "contributor": info["fingerprint"],
                  "n_examples": info["n_examples"], "n_dpo_pairs": info["n_pairs"],
                  "base_corpus_version": info.get("base_corpus_version") or ""}))


def cmd_import(args) -> int:
    from node0_ops.corpus.contributions import import_bundle

    try:
        info = import_bundle(_db(), args.bundle, into=args.into, merge=not args.no_merge,
                             export_root=artifacts_dir("corpus"))
    except ValueError as exc:  # BundleError included: refused, nothing written
        sys.exit(str(exc))
    if info["status"] == "already-imported":
        print(f"bundle {info['bundle_id']} was already imported (corpus {info['corpus_version']}); nothing written")
        return 0
    _report_imported_version(info)
    print(f"imported {args.bundle} from {info['fingerprint']}: {info['n_examples']} examples, {info['n_pairs']} DPO pairs "
          f"({info['n_new_examples']} / {info['n_new_pairs']} new, {info['n_resplit']} moved to the base's split)\n"
          f"corpus version {info['corpus_version']}" + (f" (merged onto {info['base_corpus_version']})"
                                                        if info["base_corpus_version"] else "")
          + "\nnext: node0-corpus stats")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="node0-corpus", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_flags(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="collect, scrub, format and version the corpus (a Dagster run)")
    b.add_argument("--extra", action="append", default=[], help="extra source file or folder (repeatable)")
    b.add_argument("--transcripts", action="append", default=[], help="extra Claude Code transcript folder")
    b.add_argument("--ner", action="store_true", help="also scrub person names with spaCy NER (slower)")
    s = sub.add_parser("stats", help="counts by role x task x split, tokens, redactions, quarantine, gaps")
    s.add_argument("--min-per-cell", type=int, default=5)
    s.add_argument("--json", action="store_true")
    v = sub.add_parser("preview", help="print sample examples or DPO pairs")
    v.add_argument("--role", choices=ROLES)
    v.add_argument("--task", choices=TASKS)
    v.add_argument("--split", choices=("train", "val", "test"))
    v.add_argument("-n", type=int, default=3)
    v.add_argument("--dpo", action="store_true")
    a = sub.add_parser("audit", help="re-scan a sample of scrubbed examples with every recognizer")
    a.add_argument("--sample", type=int, default=200)
    a.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("export", help="write TRL-ready JSONL (messages / prompt-chosen-rejected)")
    e.add_argument("--out", required=True)
    e.add_argument("--role", choices=ROLES)
    e.add_argument("--task", choices=TASKS)
    c = sub.add_parser("contribute", help="write a signed, scrubbed corpus bundle to share (no GPU needed)")
    c.add_argument("--out", required=True, help="bundle tar to write")
    c.add_argument("--key", help="Ed25519 private key (OpenSSH/PEM, unencrypted; default: "
                                 "<state>/keys/contributor_ed25519, generated on first use)")
    i = sub.add_parser("import", help="verify, re-scan and add a contributed bundle as a new corpus version")
    i.add_argument("bundle", help="bundle tar written by node0-corpus contribute")
    into = i.add_mutually_exclusive_group()
    into.add_argument("--into", help="corpus version to merge the bundle onto (default: the latest)")
    into.add_argument("--no-merge", action="store_true", help="a version of the bundle's items alone")
    for sp in (s, v, a, e, c):
        sp.add_argument("--version", help="corpus version hash (default: latest)")
    share_common_flags(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    apply_common_flags(args)
    return {"build": cmd_build, "stats": cmd_stats, "preview": cmd_preview,
            "audit": cmd_audit, "export": cmd_export, "contribute": cmd_contribute,
            "import": cmd_import}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
