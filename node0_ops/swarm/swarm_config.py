"""`SwarmConfig`: one Hivemind data-parallel LoRA run, validated TRL-style, saved as node0-style YAML.

The YAML imitates Pluralis node0 (Apache-2.0): plain blocks for the run and the network plus
``class_name``/``init_args`` blocks for the pieces a peer builds (base optimizer, gradient
compression, gradient averager). Unlike node0, ``class_name`` is checked against an allow-list
and never imported blindly: a swarm config is handed from operator to operator and must not be
able to run arbitrary code.

Usage::

    cfg = SwarmConfig(target_batch_size=64, compression="fp16", min_peers=2)
    cfg.run_id = derive_run_id("smollm2-135m", lora_cfg, corpus_version="c-1a2b", hyperparameters={"lr": 2e-4})
    cfg.to_yaml("swarm.yaml")
    same = SwarmConfig.from_yaml("swarm.yaml")

Network defaults are loopback-only (``/ip4/127.0.0.1/tcp/0``, no NAT port mapping, no AutoNAT,
no relays); see ``shared/docs/environment-notes.md`` ("Hivemind"). ``public=True`` is required
before any non-loopback address is accepted, and only then are NAT/relay options turned on.
"""

import hashlib
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

COMPRESSIONS = ("none", "fp16", "powersgd")
OPTIMIZERS = {"adamw": "torch.optim.AdamW", "adam": "torch.optim.Adam"}
LOOPBACK_MADDR = "/ip4/127.0.0.1/tcp/0"
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

# class_name allow-lists for the node0-style blocks (compression <-> hivemind classes)
_GRAD_COMPRESSION = {
    "hivemind.compression.NoCompression": "none",
    "hivemind.compression.Float16Compression": "fp16",
}
_GRAD_AVERAGER_PLAIN = "hivemind.optim.grad_averager.GradientAverager"
_GRAD_AVERAGER_POWERSGD = "hivemind.optim.power_sgd_averager.PowerSGDGradientAverager"


def _maddr_host(maddr: str) -> str | None:
    """The IP/DNS part of a multiaddr (``/ip4/1.2.3.4/tcp/5`` -> ``1.2.3.4``), else None."""
    parts = maddr.strip("/").split("/")
    if len(parts) >= 2 and parts[0] in ("ip4", "ip6", "dns", "dns4", "dns6"):
        return parts[1]
    return None


def _is_loopback(maddr: str) -> bool:
    host = _maddr_host(maddr)
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _maddr_port(maddr: str) -> str | None:
    parts = maddr.strip("/").split("/")
    for proto in ("tcp", "udp"):
        if proto in parts and parts.index(proto) + 1 < len(parts):
            return parts[parts.index(proto) + 1]
    return None


@dataclass
class SwarmConfig:
    """Settings of one swarm run (all peers of a run should use the same values, except the network block).

    Attributes:
        run_id: DHT key prefix of the run (hivemind prefixes every key with it); ``[A-Za-z0-9_.-]``,
            at most 128 chars. Empty means "derive it" (:func:`derive_run_id`) before training.
        initial_peers: multiaddrs of running peers, each ending in ``/p2p/<peer id>``; empty for the
            first (bootstrap) peer.
        host_maddrs: where this peer listens (default loopback, random port).
        announce_maddrs: addresses other machines should dial (public IP + explicit port).
        public: allow non-loopback addresses and turn on NAT port mapping, AutoNAT and relays.
        target_batch_size: samples all peers accumulate together per global step (epoch).
        batch_size_per_step: samples behind one local ``opt.step()`` (micro-batch x accumulation).
        matchmaking_time: seconds peers wait to form an averaging group (1 s on loopback, 5-15 s WAN).
        averaging_timeout: seconds before an all-reduce round is abandoned (a dead peer costs this once).
        request_timeout: matchmaking request timeout; must stay below ``matchmaking_time``
            (None: ``min(3, matchmaking_time / 2)``).
        load_state_timeout: seconds a late joiner waits for a peer to send the state.
        compression: gradient compression: ``none``, ``fp16`` (hivemind Float16Compression) or
            ``powersgd`` (PowerSGDGradientAverager, rank ``powersgd_rank``; Vogels et al. 2019,
            arXiv:1905.13727). Parameters and optimizer statistics are always averaged uncompressed.
        powersgd_rank: PowerSGD rank (>= 1).
        key_file: path of the run's shared key (see :mod:`node0_ops.swarm.auth`).
        min_peers: start-up barrier: wait until this many peers report progress before training.
        barrier_timeout: seconds to wait at the barrier before giving up (TimeoutError).
        optimizer / lr / weight_decay: base optimizer used when the trainer gives no factory
            (Adam-family only: its ``exp_avg``/``exp_avg_sq`` are averaged across peers).
        socket_dir: folder for hivemind's ``hivemind-*.sock`` files (None: hivemind's ``/tmp``).
        verbose: let hivemind log averaging events at INFO.
    """

    run_id: str = ""
    initial_peers: list[str] = field(default_factory=list)
    host_maddrs: list[str] = field(default_factory=lambda: [LOOPBACK_MADDR])
    announce_maddrs: list[str] = field(default_factory=list)
    public: bool = False
    target_batch_size: int = 64
    batch_size_per_step: int = 1
    matchmaking_time: float = 3.0
    averaging_timeout: float = 60.0
    request_timeout: float | None = None
    load_state_timeout: float = 600.0
    compression: str = "none"
    powersgd_rank: int = 4
    key_file: str | None = None
    min_peers: int = 1
    barrier_timeout: float = 300.0
    optimizer: str = "adamw"
    lr: float = 2e-4
    weight_decay: float = 0.0
    socket_dir: str | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        self.initial_peers = [str(m) for m in (self.initial_peers or [])]
        self.host_maddrs = [str(m) for m in (self.host_maddrs or [LOOPBACK_MADDR])]
        self.announce_maddrs = [str(m) for m in (self.announce_maddrs or [])]
        if self.run_id and not RUN_ID_RE.match(self.run_id):
            raise ValueError(f"run_id={self.run_id!r} must match {RUN_ID_RE.pattern} (letters, digits, '_', '.', '-'); "
                             "leave it empty to derive one with derive_run_id()")
        for m in self.initial_peers:
            if not m.startswith("/") or "/p2p/" not in m:
                raise ValueError(f"initial_peers entry {m!r} is not a full multiaddr; copy the one printed by "
                                 "`node0-finetune swarm start`, e.g. /ip4/10.0.0.5/tcp/31337/p2p/12D3KooW...")
        for m in self.host_maddrs + self.announce_maddrs:
            if not m.startswith("/") or _maddr_host(m) is None:
                raise ValueError(f"address {m!r} is not a multiaddr like /ip4/127.0.0.1/tcp/0")
        for m in self.announce_maddrs:
            if _maddr_port(m) in (None, "0"):
                raise ValueError(f"announce_maddrs entry {m!r} needs an explicit port (port 0 cannot be announced), "
                                 "e.g. /ip4/203.0.113.7/tcp/31337 together with host_maddrs /ip4/0.0.0.0/tcp/31337")
        non_loopback = [m for m in self.host_maddrs + self.announce_maddrs if not _is_loopback(m)]
        if non_loopback and not self.public:
            raise ValueError(f"addresses {non_loopback} reach beyond this machine; set public=True (--public) to "
                             "allow that (it also enables NAT port mapping and relays), or keep the default "
                             f"host_maddrs [{LOOPBACK_MADDR!r}]")
        if self.public and not non_loopback:
            raise ValueError("public=True but every address is loopback; give the addresses other machines dial, "
                             "e.g. host_maddrs ['/ip4/0.0.0.0/tcp/31337'] and announce_maddrs "
                             "['/ip4/<public ip>/tcp/31337'], or set public=False")
        if not isinstance(self.target_batch_size, int) or self.target_batch_size < 1:
            raise ValueError(f"target_batch_size={self.target_batch_size!r} must be a positive int (global samples per step)")
        if not isinstance(self.batch_size_per_step, int) or not 1 <= self.batch_size_per_step <= self.target_batch_size:
            raise ValueError(f"batch_size_per_step={self.batch_size_per_step!r} must be an int in "
                             f"[1, target_batch_size={self.target_batch_size}]")
        if self.matchmaking_time <= 0:
            raise ValueError(f"matchmaking_time={self.matchmaking_time} must be > 0 s (1 s on loopback, 5-15 s over the internet)")
        if self.averaging_timeout <= self.matchmaking_time:
            raise ValueError(f"averaging_timeout={self.averaging_timeout} must exceed matchmaking_time="
                             f"{self.matchmaking_time}; use about 2x the time an all-reduce takes, e.g. 30-60 s")
        if self.request_timeout is not None and not 0 < self.request_timeout < self.matchmaking_time:
            raise ValueError(f"request_timeout={self.request_timeout} must be in (0, matchmaking_time="
                             f"{self.matchmaking_time}) or None, else matchmaking can deadlock (hivemind Matchmaking)")
        if self.load_state_timeout <= 0:
            raise ValueError(f"load_state_timeout={self.load_state_timeout} must be > 0 s")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression={self.compression!r} must be one of {COMPRESSIONS}")
        if not isinstance(self.powersgd_rank, int) or self.powersgd_rank < 1:
            raise ValueError(f"powersgd_rank={self.powersgd_rank!r} must be an int >= 1 (LoRA matrices are already "
                             "low-rank: 1-4 is plenty)")
        if not isinstance(self.min_peers, int) or self.min_peers < 1:
            raise ValueError(f"min_peers={self.min_peers!r} must be an int >= 1 (peers to wait for before training)")
        if self.barrier_timeout <= 0:
            raise ValueError(f"barrier_timeout={self.barrier_timeout} must be > 0 s")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} must be one of {sorted(OPTIMIZERS)}: the swarm averages "
                             "Adam's exp_avg/exp_avg_sq statistics")
        if self.lr <= 0:
            raise ValueError(f"lr={self.lr} must be > 0 (typical LoRA: 1e-4 .. 5e-4)")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay} must be >= 0")
        if self.socket_dir is not None and len(str(Path(self.socket_dir).resolve())) > 60:
            raise ValueError(f"socket_dir={self.socket_dir!r} is too long for unix socket paths (max 60 chars, "
                             "sockets add ~35); use a short folder such as /tmp/gtsw-<id>")

    @property
    def effective_request_timeout(self) -> float:
        """Matchmaking request timeout in seconds (explicit value, or ``min(3, matchmaking_time / 2)``)."""
        return self.request_timeout if self.request_timeout is not None else min(3.0, self.matchmaking_time / 2)

    # ---------------- node0-style YAML ----------------

    def to_node0_dict(self) -> dict:
        """Node0-style nested dict (``run_config``, ``network_config`` and ``class_name``/``init_args`` blocks)."""
        compression_cls = {"fp16": "hivemind.compression.Float16Compression"}.get(
            self.compression, "hivemind.compression.NoCompression")
        averager = ({"class_name": _GRAD_AVERAGER_POWERSGD, "init_args": {"averager_rank": self.powersgd_rank}}
                    if self.compression == "powersgd" else {"class_name": _GRAD_AVERAGER_PLAIN, "init_args": {}})
        return {
            "run_config": {
                "run_id": self.run_id, "target_batch_size": self.target_batch_size,
                "batch_size_per_step": self.batch_size_per_step, "matchmaking_time": self.matchmaking_time,
                "averaging_timeout": self.averaging_timeout, "request_timeout": self.request_timeout,
                "load_state_timeout": self.load_state_timeout, "min_peers": self.min_peers,
                "barrier_timeout": self.barrier_timeout, "verbose": self.verbose,
            },
            "network_config": {
                "initial_peers": list(self.initial_peers), "host_maddrs": list(self.host_maddrs),
                "announce_maddrs": list(self.announce_maddrs), "public": self.public,
                "key_file": self.key_file, "socket_dir": self.socket_dir,
            },
            "optim_config": {"class_name": OPTIMIZERS[self.optimizer],
                             "init_args": {"lr": self.lr, "weight_decay": self.weight_decay}},
            "grad_compression": {"class_name": compression_cls, "init_args": {}},
            "grad_averager": averager,
        }

    @classmethod
    def from_node0_dict(cls, data: dict, source: str = "<dict>") -> "SwarmConfig":
        """Inverse of :meth:`to_node0_dict`.

        Raises:
            ValueError: unknown block/key, a ``class_name`` outside the allow-list, or an invalid value
                (the message names ``source`` and the offending key).
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: top level must be a mapping of config blocks, got {type(data).__name__}")
        known = {"run_config", "network_config", "optim_config", "grad_compression", "grad_averager"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown block(s) {sorted(unknown)}; allowed: {sorted(known)}")
        kw: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for block in ("run_config", "network_config"):
            for key, value in (data.get(block) or {}).items():
                if key not in names:
                    raise ValueError(f"{source}: {block}.{key} is not a SwarmConfig field")
                kw[key] = value
        optim = data.get("optim_config")
        if optim:
            by_cls = {v: k for k, v in OPTIMIZERS.items()}
            if optim.get("class_name") not in by_cls:
                raise ValueError(f"{source}: optim_config.class_name={optim.get('class_name')!r} is not one of "
                                 f"{sorted(by_cls)}")
            kw["optimizer"] = by_cls[optim["class_name"]]
            args = dict(optim.get("init_args") or {})
            bad = set(args) - {"lr", "weight_decay"}
            if bad:
                raise ValueError(f"{source}: optim_config.init_args {sorted(bad)} not supported (lr, weight_decay)")
            kw.update(args)
        compression = "none"
        comp = data.get("grad_compression")
        if comp:
            if comp.get("class_name") not in _GRAD_COMPRESSION:
                raise ValueError(f"{source}: grad_compression.class_name={comp.get('class_name')!r} is not one of "
                                 f"{sorted(_GRAD_COMPRESSION)}")
            compression = _GRAD_COMPRESSION[comp["class_name"]]
        avg = data.get("grad_averager")
        if avg:
            name = avg.get("class_name")
            if name == _GRAD_AVERAGER_POWERSGD:
                if compression != "none":
                    raise ValueError(f"{source}: PowerSGD grad_averager cannot be combined with grad_compression "
                                     f"{comp.get('class_name')}; use NoCompression")
                compression = "powersgd"
                rank = (avg.get("init_args") or {}).get("averager_rank")
                if rank is not None:
                    kw["powersgd_rank"] = rank
            elif name != _GRAD_AVERAGER_PLAIN:
                raise ValueError(f"{source}: grad_averager.class_name={name!r} is not one of "
                                 f"{[_GRAD_AVERAGER_PLAIN, _GRAD_AVERAGER_POWERSGD]}")
        kw["compression"] = compression
        try:
            return cls(**kw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    def to_yaml(self, path: str | Path) -> Path:
        """Write the node0-style YAML; returns the path."""
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# node0-finetune swarm config (node0-style blocks); hand it out together with the key file\n"
        path.write_text(header + yaml.safe_dump(self.to_node0_dict(), sort_keys=False))
        return path

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SwarmConfig":
        """Read a YAML written by :meth:`to_yaml` (or by hand in the same shape).

        Raises:
            FileNotFoundError: no such file.  ValueError: bad YAML or values (message names the file).
        """
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"swarm config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_node0_dict(data, source=str(path))

    def replace(self, **changes) -> "SwarmConfig":
        """A validated copy with ``changes`` applied (None values are ignored)."""
        data = asdict(self)
        data.update({k: v for k, v in changes.items() if v is not None})
        return SwarmConfig(**data)


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def derive_run_id(base: str, lora_config: Any, corpus_version: str, hyperparameters: Any,
                  prefix: str = "gtft") -> str:
    """Deterministic run_id: ``<prefix>-<16 hex of sha256>`` over the canonical JSON of the inputs.

    Args:
        base: base model spec or its content hash (e.g. ``smollm2-135m``).
        lora_config: dict, dataclass or peft ``LoraConfig`` (anything with ``to_dict()``).
        corpus_version: corpus snapshot id the run trains on.
        hyperparameters: dict or dataclass (lr, batch sizes, epochs, seed...).
        prefix: human-readable prefix (``[A-Za-z0-9_.-]``, e.g. a role name).

    Peers that agree on every input get the same run_id; anything different gives another DHT
    namespace, so concurrent jobs on one DHT never average with each other.

    Raises:
        ValueError: ``prefix`` has characters outside ``[A-Za-z0-9_.-]``.
    """
    if not RUN_ID_RE.match(prefix) or len(prefix) > 100:
        raise ValueError(f"prefix={prefix!r} must match {RUN_ID_RE.pattern} and be <= 100 chars")
    blob = json.dumps({"base": base, "lora": lora_config, "corpus": corpus_version, "hp": hyperparameters},
                      sort_keys=True, default=_jsonable, ensure_ascii=False)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
