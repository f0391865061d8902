"""One swarm peer: a loopback-safe DHT and a ``hivemind.Optimizer`` over the LoRA parameters.

Data-parallel LoRA fine-tuning in the style of Pluralis node0 / hivemind collaborative training
(Ryabinin et al., "Moshpit SGD", arXiv:2103.03239; hivemind docs, "Training with
hivemind.Optimizer"): every peer holds the same frozen base and the same LoRA adapter, computes
gradients on its own data shard, and the swarm averages gradients each time the peers together
have seen ``target_batch_size`` samples (one *epoch* in hivemind terms), then averages the LoRA
parameters and Adam statistics so all peers stay identical.

Settings that keep peers bitwise identical (environment notes, "Hivemind"):
``average_opt_statistics=("exp_avg", "exp_avg_sq")``, ``delay_state_averaging=False``, short
matchmaking with ``request_timeout`` below it, a start-up barrier, and **only** the
``requires_grad`` (LoRA) parameters handed to the optimizer.

Usage::

    cfg = SwarmConfig(run_id="gtft-1a2b", min_peers=2, matchmaking_time=1.0, averaging_timeout=10)
    dht = start_dht(cfg, SwarmKey.load("swarm.key"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_swarm_optimizer(params, cfg, dht, cfg.run_id)   # waits at the barrier, late joiners load state
    ...  loss.backward(); opt.step(); opt.zero_grad()           # a global step happens every epoch
    opt.shutdown(); dht.shutdown()
"""

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import hivemind
import torch
from hivemind.compression import Float16Compression, NoCompression
from hivemind.optim.grad_averager import GradientAverager
from hivemind.optim.power_sgd_averager import PowerSGDGradientAverager
from hivemind.p2p import P2P

from node0_ops.swarm.auth import SharedKeyAuthorizer, SwarmKey
from node0_ops.swarm.swarm_config import SwarmConfig

logger = logging.getLogger(__name__)

AVERAGED_OPT_STATISTICS = ("exp_avg", "exp_avg_sq")
OptimizerFactory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]


class SwarmJoinError(RuntimeError):
    """The DHT could not reach or was refused by every initial peer (often: wrong key file)."""


def p2p_options(cfg: SwarmConfig) -> dict:
    """Keyword arguments for ``hivemind.DHT``/``P2P`` from the network block of ``cfg``.

    Loopback runs (``public=False``) disable UPnP/NAT port mapping, AutoNAT and relays so that no
    traffic leaves the machine; ``public=True`` (explicit public addresses) enables all four.
    """
    opts = {"host_maddrs": list(cfg.host_maddrs)}
    if cfg.announce_maddrs:
        opts["announce_maddrs"] = list(cfg.announce_maddrs)
    for flag in ("nat_port_map", "auto_nat", "use_relay", "use_auto_relay"):
        opts[flag] = bool(cfg.public)
    return opts


def use_socket_dir(socket_dir: str | os.PathLike | None) -> None:
    """Put hivemind's unix sockets (``hivemind-p2pd-*.sock``, ``hivemind-p2pclient-*.sock``) in ``socket_dir``.

    hivemind 1.1.12 hard-codes ``/tmp`` in ``P2P._UNIX_SOCKET_PREFIX``; setting that class attribute
    before the DHT starts moves every socket of this process and its forked children.
    """
    if socket_dir is None:
        return
    folder = Path(socket_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    P2P._UNIX_SOCKET_PREFIX = f"/unix{folder}/hivemind-"


def _resolve_key(cfg: SwarmConfig, key: SwarmKey | str | os.PathLike | None) -> SwarmKey | None:
    if isinstance(key, SwarmKey):
        return key
    if key is not None:
        return SwarmKey.load(key)
    if cfg.key_file:
        return SwarmKey.load(cfg.key_file)
    return None


def start_dht(cfg: SwarmConfig, key: SwarmKey | str | os.PathLike | None = None, *,
              ensure_bootstrap_success: bool = True, **dht_kwargs) -> hivemind.DHT:
    """Start this peer's DHT (a background process plus its ``p2pd``) with the shared-key authorizer.

    Args:
        cfg: network block (``initial_peers``, ``host_maddrs``, ``announce_maddrs``, ``public``,
            ``socket_dir``) and ``key_file``.
        key: :class:`SwarmKey` or key file path; default ``cfg.key_file``. None (and no key_file)
            starts an open DHT, allowed on loopback only.
        ensure_bootstrap_success: raise when no initial peer answers (hivemind's flag).
        dht_kwargs: extra ``hivemind.DHT`` arguments (e.g. ``wait_timeout``).

    Raises:
        ValueError: ``public=True`` without a key.
        SwarmJoinError: no initial peer answered or all refused this peer's token (wrong key).
    """
    key = _resolve_key(cfg, key)
    if key is None and cfg.public:
        raise ValueError("a public swarm needs a key: pass --key-file (swarm start writes one)")
    use_socket_dir(cfg.socket_dir)
    # shutdown_timeout: averager processes that exit leave stale requests in the DHT pipe; each costs the
    # DHT process a 3 s back-off, so hivemind's 3 s default grace ends in a hard kill instead of a clean stop
    kwargs = dict(p2p_options(cfg), shutdown_timeout=10.0)
    kwargs.update(dht_kwargs)
    if key is not None:
        kwargs["authorizer"] = SharedKeyAuthorizer(key)
    try:
        return hivemind.DHT(initial_peers=cfg.initial_peers or None, start=True,
                            ensure_bootstrap_success=ensure_bootstrap_success, **kwargs)
    except RuntimeError as exc:
        if "bootstrap failed" not in str(exc):
            raise
        raise SwarmJoinError(f"could not join the swarm through {cfg.initial_peers}: no peer answered or all refused "
                             f"this peer's token; check --key-file (fingerprint "
                             f"{key.fingerprint if key else 'none'}) and that the address is current") from exc


def default_optimizer_factory(cfg: SwarmConfig) -> OptimizerFactory:
    """``params -> torch.optim.AdamW/Adam(params, lr, weight_decay)`` from ``cfg``."""
    cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[cfg.optimizer]
    return partial(cls, lr=cfg.lr, weight_decay=cfg.weight_decay)


def gradient_compression_options(cfg: SwarmConfig) -> dict:
    """``grad_compression`` / ``grad_averager_factory`` kwargs of ``hivemind.Optimizer`` for ``cfg.compression``.

    The factory always sets ``request_timeout``: hivemind 1.1.12 forwards ``averager_opts`` to the
    state averager only, and the gradient averager's default (3 s) exceeds a 1 s matchmaking time.
    """
    timeout = cfg.effective_request_timeout
    if cfg.compression == "powersgd":
        return {"grad_compression": NoCompression(),
                "grad_averager_factory": partial(PowerSGDGradientAverager, averager_rank=cfg.powersgd_rank,
                                                 request_timeout=timeout)}
    compression = Float16Compression() if cfg.compression == "fp16" else NoCompression()
    return {"grad_compression": compression,
            "grad_averager_factory": partial(GradientAverager, request_timeout=timeout)}


@dataclass
class JoinReport:
    """What :func:`join_swarm` did.

    Attributes:
        loaded_state: True when this peer was behind and downloaded the state (late joiner).
        epoch: local epoch after joining.  num_peers: peers seen at the barrier.
        seconds: wall time spent joining (s).
    """

    loaded_state: bool
    epoch: int
    num_peers: int
    seconds: float


def join_swarm(opt: hivemind.Optimizer, min_peers: int, timeout: float, poll: float = 0.2,
               stop: threading.Event | None = None) -> JoinReport:
    """Start-up barrier and late-join catch-up for a fresh ``hivemind.Optimizer``.

    1. Wait for the tracker's first view of the swarm; if the swarm is ahead (late joiner),
       ``opt.load_state_from_peers()`` (parameters, Adam statistics, epoch) until caught up.
       With short rounds (seconds) a joiner often misses the swarm's next transition and runs
       one epoch behind, its parameters off by about one update, until hivemind's own
       out-of-sync check reloads it (observed: 1-2 rounds); minute-long rounds rarely do.
    2. Report 1 sample of progress (peers with 0 samples are invisible to the tracker) and wait
       until ``tracker.global_progress.num_peers >= min_peers``. Without the barrier the first
       peer takes local-only steps and the peers drift apart (environment notes).

    Raises:
        TimeoutError: fewer than ``min_peers`` peers within ``timeout`` seconds.
        InterruptedError: ``stop`` was set while waiting.
    """
    start = time.monotonic()
    opt.tracker.fetched_global_progress_this_epoch.wait(timeout=min(timeout, 30.0))
    loaded = False
    for _ in range(3):
        if opt.tracker.global_epoch <= opt.local_epoch:
            break
        logger.info("swarm is at epoch %d, this peer at %d: loading state from peers",
                    opt.tracker.global_epoch, opt.local_epoch)
        opt.load_state_from_peers()
        loaded = True
    opt.tracker.report_local_progress(opt.local_epoch, 1)
    while True:
        num_peers = opt.tracker.global_progress.num_peers
        if num_peers >= min_peers:
            break
        if stop is not None and stop.is_set():
            raise InterruptedError("stopped while waiting at the start-up barrier")
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"start-up barrier: {num_peers} of {min_peers} peers joined run {opt.run_id!r} "
                               f"within {timeout:.0f} s; start more peers with the printed join command, or "
                               "lower min_peers / raise barrier_timeout")
        time.sleep(poll)
    return JoinReport(loaded, opt.local_epoch, num_peers, time.monotonic() - start)


def make_swarm_optimizer(params: Iterable[torch.nn.Parameter], cfg: SwarmConfig, dht: hivemind.DHT,
                         run_id: str | None = None, base_optimizer_factory: OptimizerFactory | None = None, *,
                         scheduler_factory: Callable | None = None, min_peers: int | None = None,
                         join: bool = True, stop: threading.Event | None = None) -> hivemind.Optimizer:
    """Wrap the LoRA parameters in a ``hivemind.Optimizer`` and join the swarm.

    Args:
        params: **only** trainable (``requires_grad``) LoRA parameters; frozen ones would be moved by
            weight decay and averaged for nothing.
        cfg: batch sizes, timeouts, compression, barrier size.
        dht: running DHT from :func:`start_dht`.
        run_id: DHT prefix of the run (default ``cfg.run_id``).
        base_optimizer_factory: ``params -> torch.optim.Optimizer`` (Adam-family; default from ``cfg``).
        scheduler_factory: ``optimizer -> LR scheduler``; hivemind steps it once per global epoch.
            Do **not** attach a scheduler to the returned optimizer yourself: its ``param_groups``
            are copies, so external LR changes are lost.
        min_peers: barrier size (default ``cfg.min_peers``).
        join: run :func:`join_swarm` (barrier + late-join load) before returning; its report is
            stored as ``opt.join_report``.
        stop: event that aborts the barrier wait (InterruptedError).

    Returns:
        ``hivemind.Optimizer``; call ``step()`` after each backward (``batch_size_per_step`` samples).

    Raises:
        ValueError: empty parameters, a frozen parameter, or no run_id.
        TimeoutError / InterruptedError: barrier not reached / stopped (the optimizer is shut down first).
    """
    params = list(params)
    if not params:
        raise ValueError("no parameters: pass [p for p in model.parameters() if p.requires_grad] of a LoRA model")
    frozen = sum(1 for p in params if not p.requires_grad)
    if frozen:
        raise ValueError(f"{frozen} of {len(params)} parameters do not require grad; pass only the trainable LoRA "
                         "parameters: [p for p in model.parameters() if p.requires_grad]")
    run_id = run_id or cfg.run_id
    if not run_id:
        raise ValueError("run_id is empty: set cfg.run_id or derive one with derive_run_id(...)")
    opt = hivemind.Optimizer(
        dht=dht, run_id=run_id, params=params,
        optimizer=base_optimizer_factory or default_optimizer_factory(cfg), scheduler=scheduler_factory,
        target_batch_size=cfg.target_batch_size, batch_size_per_step=cfg.batch_size_per_step,
        matchmaking_time=cfg.matchmaking_time, averaging_timeout=cfg.averaging_timeout,
        load_state_timeout=cfg.load_state_timeout,
        delay_state_averaging=False, average_opt_statistics=AVERAGED_OPT_STATISTICS,
        averager_opts={"request_timeout": cfg.effective_request_timeout},
        verbose=cfg.verbose, **gradient_compression_options(cfg),
    )
    opt.join_report = None
    if join:
        try:
            opt.join_report = join_swarm(opt, min_peers or cfg.min_peers, cfg.barrier_timeout, stop=stop)
        except BaseException:
            opt.shutdown()
            raise
    return opt


MEMBERS_SUFFIX = "_members"


def register_peer(dht: hivemind.DHT, run_id: str, settle: float = 1.0, ttl: float = 6 * 3600) -> int:
    """Record this peer's join time under ``<run_id>_members`` and return its 0-based position.

    The position counts members that registered earlier (ties broken by peer id), including ones
    that have left within ``ttl`` seconds; use it modulo the shard count. Peers registering within
    ``settle`` seconds of each other may see each other late: pass explicit shards when it matters.
    """
    from hivemind.utils import get_dht_time

    key, me = run_id + MEMBERS_SUFFIX, str(dht.peer_id)
    now = get_dht_time()
    dht.store(key, subkey=me, value=now, expiration_time=now + ttl)
    time.sleep(settle)
    found = dht.get(key, latest=True)
    entries = {k: v.value for k, v in found.value.items()} if found is not None and isinstance(found.value, dict) else {}
    entries[me] = now
    return sum(1 for peer, t in entries.items() if (t, peer) < (now, me))


def lora_fingerprint(params: Iterable[torch.Tensor]) -> str:
    """sha256 hex of the parameters' raw bytes in order (equal digests = bitwise-identical peers)."""
    digest = hashlib.sha256()
    for p in params:
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def remove_sockets(socket_dir: str | os.PathLike) -> list[Path]:
    """Delete ``hivemind-*.sock`` left in ``socket_dir`` (after every peer using it stopped); returns them."""
    removed = []
    for sock in Path(socket_dir).glob("hivemind-*.sock"):
        sock.unlink(missing_ok=True)
        removed.append(sock)
    return removed
