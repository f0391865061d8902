"""Trainer resource: LoRA SFT/DPO through node0_ops.train, in-process (tests) or in a subprocess.

The training knobs are declared once, in the config dataclasses (:class:`~node0_ops.train.sft_config.SFTConfig`,
:class:`~node0_ops.train.dpo_config.DPOConfig`, TRL style); this resource holds only a YAML path per method
and overrides of those fields, so defaults and help text cannot drift. In ``<state>/resources.yaml``::

    trainer:
      mode: subprocess               # or inprocess
      config_yaml: /path/sft.yaml    # optional SFTConfig YAML (node0-finetune --config format)
      sft: {max_steps: 60, max_minutes: 20, lora.r: 16, learning_rate: 1.0e-3}   # SFTConfig fields
      dpo: {max_steps: 10, beta: 0.1}                                            # DPOConfig fields
      mixture: {role_weight: 3}      # MixtureConfig fields

Swarm mode (``mode: swarm``) trains role adapters across a Hivemind swarm, node0 style: the
materialization joins a run someone started with ``node0-finetune swarm start --sft-config S.yaml
--corpus-version V ...`` as one more peer training its shard of the role's mixture::

    trainer:
      mode: swarm
      config_yaml: S.yaml            # the swarm's SFT config: the run_id must hash the same
      swarm: {initial_peers: [/ip4/.../p2p/12D3...], key_file: /path/swarm.key, config: /path/swarm.yaml}

Without ``sft`` settings a role adapter trains with SFTConfig's defaults (one epoch over its mixture):
bound a run from the UI or a sensor with ``sft: {max_steps: N}`` or ``{max_minutes: M}``.
Task and DPO adapters train on the base of the role adapter they stack on unless ``base`` is set.
torch is imported only when a training call runs, so the code location loads without it.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg


def _given(v: Any) -> bool:
    """A per-run override counts unless it is None, "" or a numeric 0 (the "not set" of run configs)."""
    return not (v is None or v == "" or (type(v) in (int, float) and v == 0))


def _nested(d: dict) -> dict:
    """A new nested dict from ``d``: ``{"lora.r": 4}`` -> ``{"lora": {"r": 4}}`` (inputs never mutated)."""
    out: dict = {}
    for key, val in d.items():
        *parents, leaf = str(key).split(".")
        cur = out
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[leaf] = _merge(cur.get(leaf) or {}, val) if isinstance(val, dict) else val
    return out


def _merge(a: dict, b: dict) -> dict:
    """``b`` over ``a``, both nested first (a new dict)."""
    out = _nested(a)
    for key, val in _nested(b).items():
        out[key] = _merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


class TrainerResource(dg.ConfigurableResource):
    """Runs role, task and DPO adapter training (``node0_ops.train.api``) with CUDA + bf16 when present.

    ``mode``: ``subprocess`` (default; isolates model memory, streams progress), ``inprocess`` or
    ``swarm`` (join a Hivemind run: ``swarm`` = ``{initial_peers, key_file, config?, extra_args?}``).
    ``config_yaml`` / ``dpo_config_yaml``: optional YAML files of SFTConfig / DPOConfig.
    ``sft`` / ``dpo``: overrides of those dataclasses' fields (``lora.r`` or ``{lora: {r: ..}}``).
    ``mixture``: MixtureConfig fields of the role adapters' data mixture.
    """

    mode: str = "subprocess"
    config_yaml: str = ""
    dpo_config_yaml: str = ""
    sft: dict[str, Any] = {}
    dpo: dict[str, Any] = {}
    mixture: dict[str, Any] = {}
    swarm: dict[str, Any] = {}

    def mixture_config(self):
        """The role adapters' data mixture (:class:`node0_ops.train.mixture_config.MixtureConfig` with
        this resource's ``mixture`` overrides, e.g. ``{role_weight: 3}`` in resources.yaml).

        Raises:
            dg.Failure: a bad mixture setting (the message says how to fix it).
        """
        from node0_ops.train.mixture_config import MixtureConfig

        try:
            return MixtureConfig.from_dict(self.mixture)
        except ValueError as exc:
            raise dg.Failure(description=f"trainer.{exc}") from None

    def with_overrides(self, *, sft: dict | None = None, dpo: dict | None = None) -> "TrainerResource":
        """A copy with more SFTConfig / DPOConfig field overrides (per-run settings of an asset or the main
        job); empty and zero values are ignored, so "not given" never replaces a setting.

        Raises:
            dg.Failure: a field the config dataclass does not have, or a value it rejects.
        """
        new_sft = _merge(self.sft, {k: v for k, v in (sft or {}).items() if _given(v)})
        new_dpo = _merge(self.dpo, {k: v for k, v in (dpo or {}).items() if _given(v)})
        if (new_sft, new_dpo) == (_nested(self.sft), _nested(self.dpo)):
            return self
        out = type(self)(**{**self.model_dump(), "sft": new_sft, "dpo": new_dpo})
        out.check()
        return out

    def with_defaults(self, *, sft: dict | None = None) -> "TrainerResource":
        """A copy where ``sft`` fills in only what this resource's ``sft`` does not set (a caller's
        defaults under the operator's ``resources.yaml``, e.g. the main job's learning-curve settings).

        Raises:
            dg.Failure: as :meth:`with_overrides`.
        """
        out = type(self)(**{**self.model_dump(), "sft": _merge(sft or {}, self.sft)})
        out.check()
        return out

    def check(self) -> None:
        """Build both configs once so a bad field fails here, not in a training subprocess.

        Raises:
            dg.Failure: unknown field, wrong type, or a value ``__post_init__`` rejects (fix-it message).
        """
        if self.mode not in ("subprocess", "inprocess", "swarm"):
            raise dg.Failure(description=f"trainer.mode={self.mode!r}: use subprocess, inprocess or swarm")
        self.sft_config()
        self.dpo_config()

    def sft_config(self, **more):
        """SFTConfig from ``config_yaml`` + ``sft`` (+ ``more``, e.g. the role adapter's base)."""
        from node0_ops.train.sft_config import SFTConfig

        return self._build(SFTConfig, self.config_yaml, {**self.sft, **more}, "sft")

    def dpo_config(self, **more):
        """DPOConfig from ``dpo_config_yaml`` + ``dpo`` (+ ``more``)."""
        from node0_ops.train.dpo_config import DPOConfig

        return self._build(DPOConfig, self.dpo_config_yaml, {**self.dpo, **more}, "dpo")

    @staticmethod
    def _build(cls, path: str, overrides: dict, key: str):
        try:
            return cls.from_yaml(path or None, _nested(overrides))
        except (ValueError, TypeError, FileNotFoundError) as exc:
            raise dg.Failure(description=f"trainer.{key}: {exc}",
                             metadata={"config": cls.__name__, "overrides": json.dumps(overrides, default=str)}) from None

    def fingerprint(self) -> str:
        """Short hash of the resolved settings (part of adapter folder names)."""
        data = {"sft": self.sft_config().to_dict(), "dpo": self.dpo_config().to_dict(), "mixture": self.mixture}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def _config(self, kind: str, role_adapter_dir: str | None):
        more = {}
        given = self.dpo if kind == "dpo" else self.sft
        if role_adapter_dir and "base" not in given:   # stack on the base the role adapter was trained from
            from node0_ops.train.adapters import read_metadata

            base = read_metadata(role_adapter_dir).get("base")
            more = {"base": base} if base else {}
        return self.dpo_config(**more) if kind == "dpo" else self.sft_config(**more)

    def train(self, kind: str, train: list, val: list, out_dir: Path, *, db_path: str, run_meta: dict,
              role_adapter_dir: str | None = None, log=None):
        """Train one adapter (``kind`` = role | task | dpo). Returns node0_ops TrainResult.

        Raises:
            dg.Failure: bad settings, the run failed, or it ended paused/cancelled (metadata says which and where).
        """
        from node0_ops.train import api

        cfg = self._config(kind, role_adapter_dir)
        if self.mode == "swarm":
            return self._train_in_swarm(kind, cfg, train, val, Path(out_dir), db_path=db_path, run_meta=run_meta,
                                        log=log)
        progress = None
        if log is not None:
            def progress(ev):
                if ev.get("event") == "step" and ev.get("step", 0) % 5 == 0:
                    log.info(f"step {ev.get('step')}: loss={ev.get('loss')} tok/s={ev.get('tokens_per_s')}")
        try:
            if self.mode == "subprocess":
                res = api.run_in_subprocess(kind, cfg, train, val, out_dir, role_adapter_dir=role_adapter_dir,
                                            db=db_path, run_meta=run_meta, progress=progress)
            else:
                fn = {"role": api.train_role_adapter, "task": api.train_task_adapter, "dpo": api.train_dpo}[kind]
                kw = {} if kind == "role" else {"role_adapter_dir": role_adapter_dir}
                res = fn(cfg, train, val, out_dir, db=db_path, run_meta=run_meta, **kw)
        except Exception as exc:  # surface as a Dagster failure with context
            raise dg.Failure(description=f"{kind} training failed: {exc}",
                             metadata={"kind": kind, "out_dir": str(out_dir), **{k: str(v) for k, v in run_meta.items()}}) from exc
        if res.status != "completed":
            raise dg.Failure(description=f"{kind} training ended {res.status} (resume with `node0-finetune resume {res.run_id}`)",
                             metadata={"run_id": res.run_id, "checkpoint": str(res.checkpoint)})
        return res

    def _train_in_swarm(self, kind: str, cfg, train: list, val: list, out_dir: Path, *, db_path: str, run_meta: dict,
                        log=None):
        """Join the Hivemind run named by ``swarm`` as a peer (``python -m node0_ops.swarm.cli swarm join``,
        a child process: hivemind's p2pd and sockets never live in the Dagster process) and train this
        peer's shard of ``train``; the run is recorded in the lineage DB like any other.

        Raises:
            dg.Failure: not a role adapter, missing ``initial_peers``/``key_file``, the swarm refused the
                key (exit 3) or the job (another run_id), or the peer failed (its last output lines).
        """
        import subprocess
        import sys

        import yaml

        from node0_ops.train.runner import TrainResult

        peers, key = self.swarm.get("initial_peers") or [], self.swarm.get("key_file")
        if kind != "role":
            raise dg.Failure(description=f"trainer mode swarm trains role adapters; run {kind} adapters with "
                                         "mode subprocess", metadata={"kind": kind})
        if not peers or not key:
            raise dg.Failure(description="trainer mode swarm needs swarm.initial_peers and swarm.key_file in "
                                         "resources.yaml (the multiaddr and key file `node0-finetune swarm start` "
                                         "printed)", metadata={"swarm": json.dumps(self.swarm)})
        work = out_dir.parent / f"{out_dir.name}.swarm"
        work.mkdir(parents=True, exist_ok=True)
        sft, data = work / "sft.yaml", {"train": work / "train.jsonl", "val": work / "val.jsonl"}
        sft.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        for name, rows in (("train", train), ("val", val)):
            data[name].write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        argv = [sys.executable, "-m", "node0_ops.swarm.cli", "swarm", "join", "--initial-peers", *map(str, peers),
                "--key-file", str(key), "--sft-config", str(sft), "--train-jsonl", str(data["train"]),
                "--adapter-out", str(out_dir), "--out-dir", str(work), "--db", str(db_path)]
        argv += ["--val-jsonl", str(data["val"])] if val else []
        argv += ["--config", str(self.swarm["config"])] if self.swarm.get("config") else []
        argv += ["--corpus-version", str(run_meta["corpus_version"])] if run_meta.get("corpus_version") else []
        argv += ["--role", str(run_meta["role"])] if run_meta.get("role") else []
        argv += [str(a) for a in self.swarm.get("extra_args") or []]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if log is not None and ("shard" in line or "error" in line.lower()):
                log.info(f"swarm peer: {line.rstrip()}")
        code = proc.wait()
        result = next((json.loads(ln) for ln in reversed(lines) if ln.startswith("{") and '"adapter_dir"' in ln), None)
        if code != 0 or result is None:
            why = "the swarm refused this peer's key" if code == 3 else f"the swarm peer exited {code}"
            raise dg.Failure(description=f"{why}: " + " | ".join(lines[-6:]),
                             metadata={"command": " ".join(argv), "exit_code": code, "work_dir": str(work)})
        res = TrainResult(**{k: result.get(k) for k in ("adapter_dir", "run_id", "metrics", "loss_curve_png",
                                                      "status", "run_dir", "checkpoint")})
        if res.status != "completed":
            raise dg.Failure(description=f"swarm training ended {res.status}", metadata={"run_id": res.run_id})
        return res
