"""``node0-finetune``: LoRA SFT/DPO training, resume, pause, cancel, run listing, swarm.

Usage::

    node0-finetune train --config sft.yaml --role polecat --corpus-jsonl exports/polecat/ --max-steps 20 --lora.r 8
    node0-finetune train --task git-workflow --role-adapter ADAPTER_DIR --state-dir S --corpus-version latest
    node0-finetune dpo --config dpo.yaml --role witness --role-adapter ADAPTER_DIR --corpus-jsonl dpo_train.jsonl
    node0-finetune resume RUN_ID [--allow-mismatch] [--corpus-version V]
    node0-finetune pause RUN_ID | cancel RUN_ID
    node0-finetune runs [--compare RUN_A RUN_B] [--json]
    node0-finetune swarm ...            # node0_ops.swarm.cli (Hivemind), imported lazily

The config flags (``--lora.r 8``, ``--max-steps=20``, ``--gradient-checkpointing``) are built from
the fields of SFTConfig (``train``) and DPOConfig (``dpo``), with their help and defaults
(``node0-finetune train --help``), and applied on top of ``--config`` (node0-style YAML). ``train`` and
``dpo`` run the training in a child process (own process group; Ctrl-C pauses with a checkpoint)
unless ``--in-process``. Data: ``--corpus-jsonl`` (file or export folder with ``sft_train.jsonl``
/ ``sft_val.jsonl``, ``dpo_*`` for DPO) or ``--corpus-version`` (``latest`` allowed; the default
when neither is given) from the lineage DB in ``--state-dir`` filtered by role/task.
``--state-dir`` works before or after the subcommand.
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from node0_ops.cli_flags import pop_flag, share_flags, split_leading
from node0_ops.train.config_io import add_config_args, given_overrides
from node0_ops.train.dpo_config import DPOConfig
from node0_ops.train.sft_config import SFTConfig


def _common(p) -> None:
    """Flags every subcommand shares; they work before and after it (node0_ops.cli_flags)."""
    p.add_argument("--state-dir", help="state directory (default $GASTOWN_FT_HOME)")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="node0-style YAML config (class_name/init_args or plain fields)")
    p.add_argument("--corpus-jsonl", help="TRL-ready JSONL file, or an export folder")
    p.add_argument("--val-jsonl", help="validation JSONL (default: <kind>_val.jsonl next to an export folder's train file)")
    p.add_argument("--corpus-version", help="corpus version in the lineage DB (default 'latest': the newest)")
    p.add_argument("--out", help="adapter output folder (default <state>/artifacts/adapters/<run_id>)")
    p.add_argument("--run-id", help="run id (default generated)")
    p.add_argument("--in-process", action="store_true", help="train in this process (no child process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="node0-finetune", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="LoRA SFT of a role adapter (--role) or a task adapter (--task + --role-adapter)")
    _data_args(t)
    t.add_argument("--role", help="role whose examples train the adapter")
    t.add_argument("--task", help="task adapter: train on this task's examples on top of --role-adapter")
    t.add_argument("--role-adapter", help="role adapter folder (required with --task)")
    add_config_args(t, SFTConfig)
    d = sub.add_parser("dpo", help="DPO on preference pairs starting from a role adapter")
    _data_args(d)
    d.add_argument("--role", help="role of the pairs")
    d.add_argument("--task", help="only pairs of this task")
    d.add_argument("--role-adapter", help="role adapter to start from")
    add_config_args(d, DPOConfig)
    r = sub.add_parser("resume", help="continue a paused/killed run from its newest checkpoint")
    r.add_argument("run_id")
    r.add_argument("--allow-mismatch", action="store_true", help="resume even if corpus or base changed (recorded)")
    r.add_argument("--corpus-version", help="resume on another corpus version (needs --allow-mismatch if it differs)")
    r.add_argument("--corpus-jsonl", help="resume on another JSONL file")
    r.add_argument("--base", help="resume on another base (needs --allow-mismatch)")
    r.add_argument("--in-process", action="store_true")
    r.add_argument("--quiet", action="store_true")
    for name, helptext in (("cancel", "cancel a run (checkpoint, stop its process group, mark cancelled)"),
                           ("pause", "pause a run (checkpoint and stop; resume later)")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("run_id")
        c.add_argument("--timeout", type=float, default=60.0, help="seconds to wait before SIGKILL")
    ls = sub.add_parser("runs", help="list training runs, or compare two side by side")
    ls.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"))
    ls.add_argument("--limit", type=int, default=30)
    ls.add_argument("--json", action="store_true")
    sw = sub.add_parser("swarm", help="train across a Hivemind swarm (node0_ops.swarm.cli)", add_help=False)
    sw.add_argument("swarm_args", nargs=argparse.REMAINDER)
    share_flags([p for n, p in sub.choices.items() if n != "swarm"], _common)
    return ap


def _db(state):
    from node0_ops.paths import lineage_db_path
    from node0_ops.train.tracking import open_db

    return open_db(lineage_db_path(state))


def _progress_printer(quiet: bool):
    state = {"bar": None}

    def on_event(ev: dict) -> None:
        kind = ev.get("event")
        if kind == "start":
            print(f"run {ev['run_id']}: {ev['total_steps']} optimizer steps", file=sys.stderr)
            if not quiet:
                from tqdm import tqdm

                state["bar"] = tqdm(total=ev["total_steps"], initial=ev.get("start_step", 0), unit="step",
                                    file=sys.stderr, dynamic_ncols=True)
        elif kind == "step" and state["bar"] is not None:
            bar = state["bar"]
            post = {"loss": f"{ev['loss']:.4f}", "lr": f"{ev['lr']:.2e}", "tok/s": f"{ev['tokens_per_s']:.0f}"}
            if ev.get("val_loss") is not None:
                post["val"] = f"{ev['val_loss']:.4f}"
            bar.set_postfix(post)
            bar.update(ev["step"] - bar.n)
        elif kind == "data":
            tr = ev["train"]
            print(f"data: {tr['n_used']}/{tr['n_in']} train examples ({tr['n_tokens']} tokens, "
                  f"{tr['n_label_tokens']} labelled, {tr['n_truncated']} truncated, {tr['n_dropped']} dropped); "
                  f"{ev['val']['n_used']} val", file=sys.stderr)
            for p in tr["problems"][:5]:
                print(f"  dropped {p}", file=sys.stderr)
        elif kind == "memory":
            print(f"memory: ~{ev['estimate_gb']} GB needed, {ev['free_gb']} GB free", file=sys.stderr)
        elif kind == "end" and state["bar"] is not None:
            state["bar"].close()
        elif kind == "error":
            print(f"error: {ev['error']}", file=sys.stderr)

    return on_event


def _print_result(res) -> None:
    m = res.metrics
    keys = ("steps", "train_loss", "val_loss", "tokens_per_s", "reward_margin", "reward_accuracy", "logp_accuracy")
    print(json.dumps({"run_id": res.run_id, "status": res.status, "adapter_dir": res.adapter_dir,
                      "loss_curve_png": res.loss_curve_png,
                      "metrics": {k: m[k] for k in keys if k in m}, "before": m.get("before")}, indent=2))
    if res.status == "paused":
        print(f"paused at step {m.get('steps')}; continue with: node0-finetune resume {res.run_id}", file=sys.stderr)


def _run(spec: dict, args) -> int:
    from node0_ops.train import api, runner

    progress = _progress_printer(args.quiet)
    if args.in_process:
        from node0_ops.train.checkpoint import GracefulStop

        res = runner.execute(spec, progress=progress, stop=GracefulStop().install())
    else:
        def _interrupt(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        old = signal.signal(signal.SIGTERM, _interrupt)
        try:
            res = api.run_spec_in_subprocess(spec, progress)
        finally:
            signal.signal(signal.SIGTERM, old)
    _print_result(res)
    return 0


def _train_like(kind: str, args, overrides: dict[str, str]) -> int:
    from node0_ops.paths import artifacts_dir, lineage_db_path
    from node0_ops.train import runner
    from node0_ops.train.adapters import read_metadata

    cfg_cls = runner._config_cls("dpo" if kind == "dpo" else "role")
    cfg = cfg_cls.from_yaml(args.config, overrides)
    role, task = args.role, getattr(args, "task", None)
    if kind != "dpo":
        kind = "task" if task else "role"
        if kind == "task" and not args.role_adapter:
            raise SystemExit("--task needs --role-adapter PATH (task adapters stack on a trained role adapter)")
        if kind == "role" and not role:
            raise SystemExit("train needs --role R (role adapter) or --task T --role-adapter PATH (task adapter)")
    if args.role_adapter and not role:
        role = read_metadata(args.role_adapter).get("role")
    db_path = lineage_db_path(args.state_dir)
    sft_or_dpo = "dpo" if kind == "dpo" else "sft"
    if args.corpus_jsonl:
        from node0_ops.train.data import resolve_jsonl

        train_file, val_file = resolve_jsonl(args.corpus_jsonl, sft_or_dpo)
        data = {"train_jsonl": str(train_file.resolve()),
                "val_jsonl": str(Path(args.val_jsonl).resolve()) if args.val_jsonl else (str(val_file) if val_file else None)}
        version = args.corpus_version
    else:  # the state's corpus: --corpus-version V, 'latest', or (not given) the latest one
        version = args.corpus_version or "latest"
        if version == "latest":
            from node0_ops.corpus.store import latest_corpus_version

            version = latest_corpus_version(_db(args.state_dir))
            if not version:
                raise SystemExit(f"no corpus version in {db_path}: build one first (node0-corpus build "
                                 f"--state-dir {db_path.parent}) or give --corpus-jsonl FILE|DIR")
        data = {"db": str(db_path), "corpus_version": version, "role": role, "task": task}
    name = {"role": "sft", "task": "task", "dpo": "dpo"}[kind]
    run_id = args.run_id or runner.new_run_id(name, task if kind == "task" else role)
    out = args.out or str(artifacts_dir("adapters", args.state_dir) / run_id)
    _db(args.state_dir)
    spec = runner.make_spec(kind=kind, config=cfg, out_dir=out, data=data, role=role, task=task,
                            role_adapter_dir=str(Path(args.role_adapter).resolve()) if args.role_adapter else None,
                            db_path=db_path, state=args.state_dir, corpus_version=version, run_id=run_id)
    return _run(spec, args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if split_leading(argv, ["--state-dir"])[1][:1] == ["swarm"]:
        # hand-dispatched; the swarm CLI reads the state dir from GASTOWN_FT_HOME
        state, argv = pop_flag(argv, "--state-dir")
        if state:
            from node0_ops.paths import state_dir

            os.environ["GASTOWN_FT_HOME"] = str(state_dir(state))
        try:
            from node0_ops.swarm import cli as swarm_cli
        except ImportError as exc:
            print(f"node0-finetune swarm: node0_ops.swarm.cli is not available ({exc})", file=sys.stderr)
            return 2
        return swarm_cli.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.cmd in ("train", "dpo"):
            return _train_like(args.cmd, args, given_overrides(args))
        if args.cmd == "resume":
            from node0_ops.paths import lineage_db_path
            from node0_ops.train import runner

            db_path = lineage_db_path(args.state_dir)
            old = runner.find_spec(args.run_id, db_path=db_path, state=args.state_dir)
            data = None
            if args.corpus_jsonl:
                data = {"train_jsonl": str(Path(args.corpus_jsonl).resolve()), "val_jsonl": old["data"].get("val_jsonl")}
            spec = runner.resume_spec(old, allow_mismatch=args.allow_mismatch, data=data, base=args.base,
                                      corpus_version=args.corpus_version)
            return _run(spec, args)
        if args.cmd in ("cancel", "pause"):
            from node0_ops.paths import lineage_db_path
            from node0_ops.train import api

            fn = api.cancel_run if args.cmd == "cancel" else api.pause_run
            print(json.dumps(fn(args.run_id, db=lineage_db_path(args.state_dir), state=args.state_dir,
                                timeout=args.timeout), indent=2))
            return 0
        if args.cmd == "runs":
            return _runs(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, MemoryError) as exc:
        print(f"node0-finetune {args.cmd}: {exc}", file=sys.stderr)
        return 1
    return 0


def _runs(args) -> int:
    from node0_ops.train import tracking

    db = _db(args.state_dir)
    if args.compare:
        a, b = (tracking.get_run(db, r) for r in args.compare)
        for rid, row in zip(args.compare, (a, b)):
            if row is None:
                raise KeyError(f"unknown run_id {rid!r}")
        print(tracking.compare_table(a, b))
        return 0
    rows = tracking.list_runs(db, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    head = ("run_id", "kind", "role", "task", "status", "steps", "train_loss", "val_loss", "tok/s", "started_at")
    table = [head]
    for r in rows:
        m = r.get("metrics") or {}
        f = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
        table.append((r["run_id"], r["kind"], r["role"] or "-", r["task"] or "-", r["status"], f(m.get("steps")),
                      f(m.get("train_loss")), f(m.get("val_loss")),
                      f(round(m["tokens_per_s"])) if m.get("tokens_per_s") else "-", str(r["started_at"])[:19]))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
