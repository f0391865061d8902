"""``node0-finetune swarm ...``: start, join, inspect a Hivemind LoRA swarm (node0-style join procedure).

Commands::

    node0-finetune swarm start [--config swarm.yaml] [--tiny] ...
        Writes the run's key file (0600) and swarm.yaml under <state>/swarm/<run_id>/, starts the
        bootstrap peer (DHT + trainer on shard 0) and prints the exact join command, e.g.
        node0-finetune swarm join --initial-peers /ip4/127.0.0.1/tcp/40123/p2p/12D3Koo... \\
            --key-file /path/swarm.key --config /path/swarm.yaml
    node0-finetune swarm join --initial-peers MADDR [MADDR ...] --key-file PATH [--config swarm.yaml] ...
        Joins and trains its shard (--shard-index/--shard-count, else its position in the swarm).
    node0-finetune swarm dht [--key-file PATH] ...
        A DHT-only bootstrap node (no training) that runs until SIGTERM/Ctrl-C.
    node0-finetune swarm status --initial-peers MADDR --key-file PATH [--run-id ID]
        Prints the run's progress as JSON; exit code 3 when the swarm refuses the key.

The job: ``--sft-config sft.yaml --train-jsonl train.jsonl [--val-jsonl val.jsonl]`` runs the LoRA
SFT trainer of ``node0_ops.train`` with the swarm optimizer in its ``optimizer_factory`` hook and
this peer's ``shard``; ``--tiny`` trains the random tiny LoRA model of :mod:`node0_ops.swarm.tiny`
on random tokens (smoke runs and tests: no base model or corpus needed). The run_id is derived
from the job (:func:`derive_run_id`); a joiner recomputes it and refuses to join a different job.

Network defaults are loopback only; pass --public with --host-maddrs/--announce-maddrs to
train across machines. SIGTERM/SIGINT shut the peer down cleanly (p2pd included).
Use ``add_subparsers(subparsers)`` to mount these under another CLI, or ``main(argv)``.
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from node0_ops.swarm.swarm_config import COMPRESSIONS, SwarmConfig, derive_run_id

EXIT_REJECTED = 3
INFO_SUFFIX = "_swarm_info"


def _add_network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="node0-style swarm YAML (swarm start writes one); flags override it")
    p.add_argument("--run-id", help="DHT prefix of the run (default: config, key file, or derived)")
    p.add_argument("--key-file", help="swarm key file (start: created when missing)")
    p.add_argument("--initial-peers", nargs="+", metavar="MADDR", help="multiaddrs of running peers")
    p.add_argument("--host-maddrs", nargs="+", metavar="MADDR", help="listen addresses (default loopback)")
    p.add_argument("--announce-maddrs", nargs="+", metavar="MADDR", help="public addresses others dial")
    p.add_argument("--public", action="store_true", default=None, help="allow non-loopback addresses + NAT/relays")
    p.add_argument("--socket-dir", help="folder for hivemind-*.sock files (default /tmp)")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-batch-size", type=int)
    p.add_argument("--batch-size-per-step", type=int)
    p.add_argument("--matchmaking-time", type=float)
    p.add_argument("--averaging-timeout", type=float)
    p.add_argument("--compression", choices=COMPRESSIONS)
    p.add_argument("--powersgd-rank", type=int)
    p.add_argument("--min-peers", type=int, help="start-up barrier: peers to wait for")
    p.add_argument("--barrier-timeout", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--shard-index", type=int, help="this peer's data shard (default: its position)")
    p.add_argument("--shard-count", type=int, help="number of shards (default: max(min_peers, position+1))")
    p.add_argument("--max-epochs", type=int, help="stop at this swarm epoch")
    p.add_argument("--max-seconds", type=float, help="stop after this many seconds")
    p.add_argument("--out-dir", help="run folder (default <state>/swarm/<run_id>)")
    p.add_argument("--progress-log", help="append one JSON line per epoch (epoch, sha256 of LoRA params, peers)")
    p.add_argument("--sft-config", help="SFT config YAML of node0_ops.train (same file on every peer)")
    p.add_argument("--train-jsonl", help="SFT training examples (same file on every peer; each trains a shard)")
    p.add_argument("--val-jsonl", help="SFT validation examples")
    p.add_argument("--corpus-version", help="corpus version for the run_id (default: content hash of the data)")
    p.add_argument("--role", help="role name recorded with the adapter")
    p.add_argument("--adapter-out", help="where this peer saves the adapter (default <out-dir>/adapter-<peer>)")
    p.add_argument("--db", help="lineage DuckDB that records this peer's run (train_runs, train_metrics)")
    p.add_argument("--tiny", action="store_true", help="tiny random LoRA model + random tokens (smoke/test)")
    p.add_argument("--seed", type=int, default=0, help="--tiny: LoRA init seed")
    p.add_argument("--step-delay", type=float, default=0.0, help="--tiny: simulated compute per step (s)")
    p.add_argument("--tiny-batch-size", type=int, default=2, help="--tiny: sequences per step")
    p.add_argument("--log-values", action="store_true", help="--tiny: write LoRA values into the progress log")
    p.add_argument("--verbose", action="store_true", default=None, help="hivemind INFO logs")


def add_subparsers(subparsers) -> argparse.ArgumentParser:
    """Mount ``swarm {start,join,dht,status}`` on an argparse ``subparsers`` object; returns the swarm parser."""
    swarm = subparsers.add_parser("swarm", help="Hivemind data-parallel LoRA swarm",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = swarm.add_subparsers(dest="swarm_command", required=True)
    start = sub.add_parser("start", help="write the key, start the bootstrap peer, print the join command")
    _add_network_args(start)
    _add_train_args(start)
    start.set_defaults(func=cmd_start)
    join = sub.add_parser("join", help="join a swarm and train this peer's shard")
    _add_network_args(join)
    _add_train_args(join)
    join.set_defaults(func=cmd_join)
    dht = sub.add_parser("dht", help="run a DHT-only bootstrap node until stopped")
    _add_network_args(dht)
    dht.add_argument("--out-dir")
    dht.add_argument("--max-seconds", type=float)
    dht.set_defaults(func=cmd_dht)
    status = sub.add_parser("status", help="print a run's progress as JSON (exit 3: key refused)")
    _add_network_args(status)
    status.set_defaults(func=cmd_status)
    return swarm


def _config_from_args(args) -> SwarmConfig:
    cfg = SwarmConfig.from_yaml(args.config) if args.config else SwarmConfig()
    changes = {
        "run_id": args.run_id, "key_file": args.key_file, "initial_peers": args.initial_peers,
        "host_maddrs": args.host_maddrs, "announce_maddrs": args.announce_maddrs, "public": args.public,
        "socket_dir": args.socket_dir,
    }
    for name in ("target_batch_size", "batch_size_per_step", "matchmaking_time", "averaging_timeout",
                 "compression", "powersgd_rank", "min_peers", "barrier_timeout", "lr", "verbose"):
        changes[name] = getattr(args, name, None)
    return cfg.replace(**changes)


def _install_signal_handlers() -> threading.Event:
    """SIGTERM/SIGINT set the returned event; a second signal raises KeyboardInterrupt."""
    stop = threading.Event()
    main_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:  # a forked hivemind child inherited this handler: default behaviour
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _tiny_run_id(cfg: SwarmConfig) -> str:
    from node0_ops.swarm.tiny import TINY_LORA, TINY_SPEC

    return derive_run_id(TINY_SPEC, TINY_LORA, "random-tokens-v1",
                         {"target_batch_size": cfg.target_batch_size, "lr": cfg.lr, "optimizer": cfg.optimizer},
                         prefix="tiny")


def _out_dir(args, run_id: str) -> Path:
    from node0_ops.paths import state_dir

    out = Path(args.out_dir) if args.out_dir else state_dir() / "swarm" / run_id
    out.mkdir(parents=True, exist_ok=True)
    return out


def join_command(maddrs: list[str], key_file: str, config_file: str | None, extra: list[str] = ()) -> str:
    """The shell command other machines run to join (what ``swarm start`` prints)."""
    parts = ["node0-finetune", "swarm", "join", "--initial-peers", *maddrs, "--key-file", key_file]
    if config_file:
        parts += ["--config", config_file]
    return shlex.join([*parts, *extra])


def _job_args(args) -> list[str]:
    """The flags that define the training job, repeated in the printed join command."""
    if args.tiny:
        return ["--tiny"]
    extra = []
    for flag, value in (("--sft-config", args.sft_config), ("--train-jsonl", args.train_jsonl),
                        ("--val-jsonl", args.val_jsonl)):
        if value:
            extra += [flag, str(Path(value).resolve())]
    if args.corpus_version:
        extra += ["--corpus-version", args.corpus_version]
    return extra


def _store_swarm_info(dht, run_id: str, info: dict) -> None:
    from hivemind.utils import get_dht_time

    dht.store(run_id + INFO_SUFFIX, info, expiration_time=get_dht_time() + 24 * 3600)


def cmd_start(args) -> int:
    """Bootstrap peer: key + config files, DHT, printed join command, then training (shard 0)."""
    from node0_ops.swarm.auth import SwarmKey

    cfg = _config_from_args(args)
    # the job defines the run_id (a reused key file may serve several runs on one DHT)
    run_id = cfg.run_id or (_tiny_run_id(cfg) if args.tiny else _trainer_run_id(args, cfg))
    out = _out_dir(args, run_id)
    key_path = Path(cfg.key_file) if cfg.key_file else out / "swarm.key"
    if key_path.exists():
        key = SwarmKey.load(key_path)
    else:
        key = SwarmKey.generate(run_id)
        key.save(key_path)
    cfg = cfg.replace(run_id=run_id, key_file=str(key_path.resolve()))
    return _run_peer(args, cfg, key, out, bootstrap=True)


def cmd_join(args) -> int:
    """Joining peer: needs --initial-peers and --key-file."""
    from node0_ops.swarm.auth import SwarmKey

    cfg = _config_from_args(args)
    if not cfg.initial_peers:
        raise SystemExit("swarm join needs --initial-peers (the multiaddr printed by `swarm start`)")
    if not cfg.key_file:
        raise SystemExit("swarm join needs --key-file (the key file from the operator who ran `swarm start`)")
    key = SwarmKey.load(cfg.key_file)
    run_id = cfg.run_id or key.run_id
    if not args.run_id:  # run_id was handed out: check that this peer would train the same job
        mine = _tiny_run_id(cfg) if args.tiny else _trainer_run_id(args, cfg)
        if mine != run_id:
            raise SystemExit(f"this peer's job hashes to run_id {mine}, the swarm runs {run_id}: base, LoRA "
                             "config, data or hyperparameters differ; use the swarm's --config/--sft-config and "
                             "data files (or pass --run-id to override)")
    cfg = cfg.replace(run_id=run_id)
    return _run_peer(args, cfg, key, _out_dir(args, run_id), bootstrap=False)


def _private_socket_dir(cfg: SwarmConfig) -> tuple[SwarmConfig, Path]:
    """A per-process socket folder (under --socket-dir, else the system temp dir), removed at exit."""
    parent = Path(cfg.socket_dir) if cfg.socket_dir else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"gtsw{os.getpid()}-", dir=parent))
    return cfg.replace(socket_dir=str(folder)), folder


def _remove_socket_dir(folder: Path) -> None:
    from node0_ops.swarm.peer import remove_sockets

    remove_sockets(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _run_peer(args, cfg: SwarmConfig, key, out: Path, bootstrap: bool) -> int:
    from node0_ops.swarm.peer import SwarmJoinError, register_peer, start_dht

    stop = _install_signal_handlers()
    cfg, sockets = _private_socket_dir(cfg)
    try:
        dht = start_dht(cfg, key)
    except SwarmJoinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _remove_socket_dir(sockets)
        return EXIT_REJECTED
    try:
        maddrs = [str(m) for m in dht.get_visible_maddrs()]
        if bootstrap:
            shared = cfg.replace(initial_peers=maddrs)
            shared.key_file = shared.socket_dir = None  # machine-local: joiners pass their own
            config_file = shared.to_yaml(out / "swarm.yaml")
            command = join_command(maddrs, cfg.key_file, str(config_file.resolve()), _job_args(args))
            info = {"run_id": cfg.run_id, "initial_peers": maddrs, "key_file": cfg.key_file,
                    "key_fingerprint": key.fingerprint, "config": str(config_file.resolve()), "command": command}
            _store_swarm_info(dht, cfg.run_id, {k: info[k] for k in ("run_id", "initial_peers", "key_fingerprint")})
            (out / "join.json").write_text(json.dumps(info, indent=1))
            print(f"swarm run {cfg.run_id} (key {key.fingerprint}) is up at {' '.join(maddrs)}", flush=True)
            print("join from other machines with:\n  " + command, flush=True)
            print(f"(hand out {cfg.key_file} privately: it admits peers; copy the other files named above too)",
                  flush=True)
        position = register_peer(dht, cfg.run_id, settle=0.0 if bootstrap else 1.0)
        count = args.shard_count or max(cfg.min_peers, position + 1)
        index = args.shard_index if args.shard_index is not None else position % count
        if not 0 <= index < count:
            raise SystemExit(f"--shard-index {index} must be in [0, --shard-count {count})")
        print(f"peer {dht.peer_id} trains shard {index}/{count} of run {cfg.run_id}", flush=True)
        if args.tiny:
            result = _train_tiny(args, cfg, dht, (index, count), stop)
        else:
            result = _train_with_trainer(args, cfg, dht, (index, count), stop)
        print(json.dumps({"run_id": cfg.run_id, "final_epoch": result.final_epoch, "steps": result.steps,
                          "seconds": round(result.seconds, 1)}), flush=True)
        return 0
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (InterruptedError, KeyboardInterrupt):
        print("stopped", file=sys.stderr)
        return 130
    finally:
        dht.shutdown()
        _remove_socket_dir(sockets)


def _progress_writer(path: str | None):
    if not path:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)

    def write(rec) -> None:
        with open(path, "a") as fh:
            fh.write(json.dumps(dict(rec.to_dict(), pid=os.getpid())) + "\n")

    return write


def _train_tiny(args, cfg: SwarmConfig, dht, shard: tuple[int, int], stop: threading.Event):
    from node0_ops.swarm.loop import swarm_train
    from node0_ops.swarm.tiny import random_token_batches, tiny_lora_model

    model = tiny_lora_model(base_seed=0, lora_seed=args.seed)
    batches = random_token_batches(n_batches=64, batch_size=args.tiny_batch_size, seq_len=16, shard=shard)
    return swarm_train(model, batches, cfg, dht=dht, max_epochs=args.max_epochs, max_seconds=args.max_seconds,
                       step_delay=args.step_delay, on_epoch=_progress_writer(args.progress_log), stop=stop,
                       record_values=args.log_values)


def _sft_inputs(args):
    """(SFTConfig, train rows, val rows) of trainer mode; SystemExit with a fix when flags are missing."""
    if not args.sft_config or not args.train_jsonl:
        raise SystemExit("trainer mode needs --sft-config and --train-jsonl (the same files on every peer); "
                         "or pass --tiny for a smoke run without a base model")
    from node0_ops.train import data as D
    from node0_ops.train.sft_config import SFTConfig

    sft = SFTConfig.from_yaml(args.sft_config)
    train, problems = D.read_jsonl(args.train_jsonl)
    val, problems_val = D.read_jsonl(args.val_jsonl) if args.val_jsonl else ([], [])
    for problem in problems + problems_val:
        print(f"[swarm] skipped {problem}", file=sys.stderr)
    if not train:
        raise SystemExit(f"{args.train_jsonl}: no usable training rows")
    return sft, train, val


def _trainer_run_id(args, cfg: SwarmConfig) -> str:
    from node0_ops.swarm.trainer_bridge import sft_run_id

    sft, train, val = _sft_inputs(args)
    return sft_run_id(sft, train, val, args.corpus_version)


def _train_with_trainer(args, cfg: SwarmConfig, dht, shard: tuple[int, int], stop: threading.Event):
    """Run ``node0_ops.train.runner.execute`` on this peer's shard with the swarm optimizer."""
    from node0_ops.swarm.loop import SwarmTrainResult
    from node0_ops.swarm.trainer_bridge import SwarmOptimizerFactory
    from node0_ops.train import runner

    sft, train, _ = _sft_inputs(args)
    if args.batch_size_per_step is None:  # one hivemind "sample" per packed row of an optimizer step
        cfg = cfg.replace(batch_size_per_step=min(sft.gradient_accumulation_steps, cfg.target_batch_size))
    out = Path(args.out_dir) if args.out_dir else None
    adapter_out = args.adapter_out or str((out or Path(".")) / f"adapter-{dht.peer_id}")
    spec = runner.make_spec(kind="role", config=sft, out_dir=adapter_out,
                            data={"train_jsonl": args.train_jsonl, "val_jsonl": args.val_jsonl},
                            role=args.role, corpus_version=args.corpus_version, db_path=args.db,
                            extra={"swarm_run_id": cfg.run_id, "shard": list(shard), "peer_id": str(dht.peer_id)})
    factory = SwarmOptimizerFactory(cfg, dht, cfg.run_id, sft, shard, len(train), stop=stop,
                                    on_epoch=_progress_writer(args.progress_log))
    start = time.time()
    try:
        result = runner.execute(spec, optimizer_factory=factory, shard=shard, stop=factory.graceful_stop(),
                                peers_fn=factory.peers, on_step=factory.on_step)
        print(json.dumps({**result.to_dict(), "train_run_id": result.run_id}, default=str), flush=True)
        epoch = factory.opt.local_epoch if factory.opt is not None else 0
    finally:
        factory.shutdown()
    steps = len(result.metrics.get("history", [])) if isinstance(result.metrics, dict) else 0
    return SwarmTrainResult(records=factory.records, steps=result.metrics.get("steps", steps),
                            final_epoch=epoch, seconds=time.time() - start)


def cmd_dht(args) -> int:
    """DHT-only bootstrap node: prints its multiaddrs, serves until stopped."""
    from node0_ops.swarm.auth import SwarmKey
    from node0_ops.swarm.peer import SwarmJoinError, start_dht

    cfg = _config_from_args(args)
    run_id = cfg.run_id or "swarm"
    out = _out_dir(args, run_id)
    key_path = Path(cfg.key_file) if cfg.key_file else out / "swarm.key"
    key = SwarmKey.load(key_path) if key_path.exists() else SwarmKey.generate(run_id)
    if not key_path.exists():
        key.save(key_path)
    stop = _install_signal_handlers()
    cfg, sockets = _private_socket_dir(cfg)
    try:
        dht = start_dht(cfg, key)
    except SwarmJoinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _remove_socket_dir(sockets)
        return EXIT_REJECTED
    try:
        maddrs = [str(m) for m in dht.get_visible_maddrs()]
        _store_swarm_info(dht, run_id, {"run_id": run_id, "initial_peers": maddrs, "key_fingerprint": key.fingerprint})
        info = {"run_id": run_id, "initial_peers": maddrs, "key_file": str(key_path.resolve()),
                "key_fingerprint": key.fingerprint}
        (out / "join.json").write_text(json.dumps(info, indent=1))
        print(f"DHT node for {run_id} (key {key.fingerprint}) at {' '.join(maddrs)}", flush=True)
        stop.wait(args.max_seconds)
        return 0
    finally:
        dht.shutdown()
        _remove_socket_dir(sockets)


def cmd_status(args) -> int:
    """Print ``{"run_id", "info", "num_peers", "epochs"}`` for the run; exit 3 if the key is refused."""
    from node0_ops.swarm.peer import SwarmJoinError, start_dht

    cfg = _config_from_args(args)
    if not cfg.initial_peers:
        raise SystemExit("swarm status needs --initial-peers")
    from node0_ops.swarm.auth import SwarmKey

    key = SwarmKey.load(cfg.key_file) if cfg.key_file else None
    run_id = cfg.run_id or (key.run_id if key else "")
    cfg, sockets = _private_socket_dir(cfg)
    try:
        dht = start_dht(cfg, key, client_mode=True)
    except SwarmJoinError as exc:
        print(json.dumps({"run_id": run_id, "rejected": True, "error": str(exc)}), flush=True)
        _remove_socket_dir(sockets)
        return EXIT_REJECTED
    try:
        info = dht.get(run_id + INFO_SUFFIX, latest=True)
        progress = dht.get(run_id + "_progress", latest=True)
        peers = progress.value if progress is not None and isinstance(progress.value, dict) else {}
        epochs = sorted(v.value.get("epoch") for v in peers.values() if v.value is not None)
        print(json.dumps({"run_id": run_id, "rejected": False, "info": info.value if info else None,
                          "num_peers": len(peers), "epochs": epochs}), flush=True)
        return 0
    finally:
        dht.shutdown()
        _remove_socket_dir(sockets)


def build_parser() -> argparse.ArgumentParser:
    """Stand-alone ``node0-finetune`` parser with only the ``swarm`` commands."""
    parser = argparse.ArgumentParser(prog="node0-finetune")
    add_subparsers(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m node0_ops.swarm.cli swarm start ...``; ``main(["start", ...])`` also works
    (``node0-finetune swarm ...`` in ``node0_ops.train.cli`` passes the arguments after ``swarm``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] != "swarm":
        argv = ["swarm", *argv]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
