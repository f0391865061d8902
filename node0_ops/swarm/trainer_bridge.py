"""Plug the swarm into the LoRA trainer of ``node0_ops.train`` (its ``optimizer_factory``/``shard`` hooks).

The trainer calls ``optimizer_factory(params)`` with exactly the trainable LoRA parameters;
:class:`SwarmOptimizerFactory` answers with a ``hivemind.Optimizer`` wrapping AdamW built from the
SFT config (the start-up barrier and a late joiner's ``load_state_from_peers`` run inside that
call). Each peer trains ``train_data[index::count]``.

Learning-rate schedule: ``hivemind.Optimizer.param_groups`` returns copies, so the trainer's own
``LambdaLR`` on the returned optimizer cannot change the LR (harmless no-op). The schedule is
instead handed to hivemind as ``scheduler=``, which steps it once per *global* epoch; its horizon
is estimated as ``ceil(steps_per_peer * batch_size_per_step * count / target_batch_size)``.

Usage::

    factory = SwarmOptimizerFactory(swarm_cfg, dht, run_id, sft_cfg, shard=(1, 2), n_examples=len(rows))
    result = runner.execute(spec, optimizer_factory=factory, shard=(1, 2), peers_fn=factory.peers,
                            on_step=factory.on_step)
    factory.shutdown()
"""

import math
import threading
import time
from collections.abc import Callable
from functools import partial

import torch

from node0_ops.swarm.loop import EpochRecord
from node0_ops.swarm.peer import lora_fingerprint, make_swarm_optimizer
from node0_ops.swarm.swarm_config import SwarmConfig, derive_run_id

# SFT config fields that do not change the optimisation (may differ between peers)
LOCAL_FIELDS = ("device", "num_threads", "check_memory", "log_every", "checkpoint_every", "save_total_limit",
                "eval_every", "precision", "gradient_checkpointing")


def sft_run_id(sft_cfg, train_rows: list[dict], val_rows: list[dict] | None = None,
               corpus_version: str | None = None, prefix: str = "gtft") -> str:
    """:func:`derive_run_id` of an SFT job: base, LoRA shape, corpus version (or content hash) and
    the hyperparameters that change the math (``LOCAL_FIELDS`` excluded)."""
    from node0_ops.train.data import content_hash

    corpus = corpus_version or f"content:{content_hash(list(train_rows) + list(val_rows or []))}"
    hp = {k: v for k, v in sft_cfg.to_dict().items() if k not in ("base", "lora", *LOCAL_FIELDS)}
    return derive_run_id(sft_cfg.base, sft_cfg.lora, corpus, hp, prefix=prefix)


def estimate_global_epochs(sft_cfg, n_examples: int, shard: tuple[int, int], cfg: SwarmConfig) -> int:
    """Global epochs of the run (LR schedule horizon); upper bound for packed SFT rows."""
    if sft_cfg.max_steps > 0:
        steps = sft_cfg.max_steps
    else:
        per_peer = math.ceil(n_examples / shard[1])
        steps = math.ceil(per_peer / sft_cfg.gradient_accumulation_steps) * sft_cfg.num_epochs
    return max(1, math.ceil(steps * cfg.batch_size_per_step * shard[1] / cfg.target_batch_size))


class _Stopped:
    """``node0_ops.train.checkpoint.GracefulStop``-compatible flag driven by a ``threading.Event``."""

    def __init__(self, event: threading.Event):
        self._event = event
        self._reason: str | None = None

    @property
    def requested(self) -> str | None:
        return self._reason or ("SIGTERM" if self._event.is_set() else None)

    def request(self, reason: str = "request") -> None:
        self._reason = self._reason or reason

    def install(self):
        return self

    def uninstall(self) -> None:
        return None


class SwarmOptimizerFactory:
    """``optimizer_factory`` for ``node0_ops.train.trainer.Trainer`` that joins the swarm.

    Args:
        cfg: swarm settings.  dht: running DHT.  run_id: the swarm run.
        sft_cfg: the trainer's SFTConfig/DPOConfig (AdamW hyperparameters and LR schedule).
        shard: ``(index, count)`` of this peer.  n_examples: training examples before sharding.
        stop: event that aborts the start-up barrier.
        on_epoch: called with an :class:`~node0_ops.swarm.loop.EpochRecord` at join and each epoch.
    """

    def __init__(self, cfg: SwarmConfig, dht, run_id: str, sft_cfg, shard: tuple[int, int], n_examples: int,
                 stop: threading.Event | None = None, on_epoch: Callable[[EpochRecord], None] | None = None):
        self.cfg, self.dht, self.run_id, self.sft_cfg = cfg, dht, run_id, sft_cfg
        self.shard, self.n_examples, self.stop, self.on_epoch = shard, n_examples, stop, on_epoch
        self.opt = None
        self.params: list[torch.nn.Parameter] = []
        self._epoch = None
        self.records: list[EpochRecord] = []

    def __call__(self, params: list[torch.nn.Parameter]):
        from node0_ops.train.trainer import lr_lambda

        s = self.sft_cfg
        base = partial(torch.optim.AdamW, lr=s.learning_rate, betas=(s.adam_beta1, s.adam_beta2), eps=s.adam_epsilon,
                       weight_decay=s.weight_decay)
        horizon = estimate_global_epochs(s, self.n_examples, self.shard, self.cfg)
        schedule = partial(torch.optim.lr_scheduler.LambdaLR, lr_lambda=lr_lambda(s, horizon))
        self.params = list(params)
        self._emit("init", None, 0)
        self.opt = make_swarm_optimizer(self.params, self.cfg, self.dht, self.run_id, base,
                                        scheduler_factory=schedule, stop=self.stop)
        self._epoch = self.opt.local_epoch
        self._emit("join", None, 0)
        return self.opt

    def peers(self) -> int | None:
        """Swarm size seen by the progress tracker (for ``StepMetrics.peers``)."""
        return self.opt.tracker.global_progress.num_peers if self.opt is not None else None

    def on_step(self, metrics) -> None:
        """Trainer ``on_step`` hook: emit a record whenever the swarm entered a new epoch."""
        if self.opt is not None and self.opt.local_epoch != self._epoch:
            self._epoch = self.opt.local_epoch
            self._emit("epoch", metrics.loss, metrics.step)

    def _emit(self, event: str, loss, steps: int) -> None:
        loaded = bool(event == "join" and self.opt.join_report and self.opt.join_report.loaded_state)
        rec = EpochRecord(event, self.opt.local_epoch if self.opt else 0, lora_fingerprint(self.params),
                          self.peers() or 0, loss, steps, time.time(), loaded)
        self.records.append(rec)
        if self.on_epoch is not None:
            self.on_epoch(rec)

    def graceful_stop(self):
        """A ``GracefulStop``-like object for ``runner.execute(stop=...)`` tied to ``self.stop``."""
        return _Stopped(self.stop or threading.Event())

    def shutdown(self) -> None:
        """Shut the hivemind optimizer down (the trainer does not)."""
        if self.opt is not None:
            self.opt.shutdown()
            self.opt = None
