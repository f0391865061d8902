"""`swarm_train`: a minimal data-parallel training loop over any causal-LM LoRA model.

Used by ``swarm start/join --tiny`` and the swarm tests; the real SFT path uses the trainer in
``node0_ops.train`` with :func:`node0_ops.swarm.peer.make_swarm_optimizer` as its
``optimizer_factory``. Each peer passes its own shard of batches; hivemind averages gradients
every ``target_batch_size`` samples (one epoch) and then parameters/Adam statistics.

Usage::

    dht = start_dht(cfg, key)
    result = swarm_train(model, batches, cfg, dht=dht, max_epochs=10,
                         on_epoch=lambda rec: print(rec.epoch, rec.sha256[:8]))
    dht.shutdown()
"""

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import hivemind
import torch

from node0_ops.swarm.peer import OptimizerFactory, lora_fingerprint, make_swarm_optimizer
from node0_ops.swarm.swarm_config import SwarmConfig


@dataclass
class EpochRecord:
    """State of this peer right after it entered ``epoch``.

    Attributes:
        event: ``init`` (before joining), ``join`` (after the barrier / late-join load) or ``epoch``
            (after a global step).
        epoch: hivemind local epoch.  sha256: :func:`lora_fingerprint` of the LoRA parameters.
        num_peers: peers the tracker saw.  loss: mean training loss since the previous record.
        steps: local optimizer steps so far.  t: wall-clock (``time.time()``, s).
        loaded_state: the join loaded state from peers.  values: flat fp32 LoRA values (optional).
    """

    event: str
    epoch: int
    sha256: str
    num_peers: int
    loss: float | None
    steps: int
    t: float
    loaded_state: bool = False
    values: list[float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SwarmTrainResult:
    """Outcome of :func:`swarm_train`: the records emitted, steps taken, and the final epoch."""

    records: list[EpochRecord] = field(default_factory=list)
    steps: int = 0
    final_epoch: int = 0
    seconds: float = 0.0


def swarm_train(model: torch.nn.Module, batches: Iterable[dict], cfg: SwarmConfig, *, dht: hivemind.DHT,
                run_id: str | None = None, base_optimizer_factory: OptimizerFactory | None = None,
                max_epochs: int | None = None, max_seconds: float | None = None, step_delay: float = 0.0,
                on_epoch: Callable[[EpochRecord], None] | None = None, stop: threading.Event | None = None,
                record_values: bool = False) -> SwarmTrainResult:
    """Train ``model``'s trainable (LoRA) parameters on ``batches`` (cycled) together with the swarm.

    Args:
        model: module whose forward(**batch) returns an object with ``.loss`` (HF causal LM).
        batches: this peer's shard; dicts of tensors, first dim = samples (``batch_size`` per step).
        cfg: swarm settings (``run_id`` unless given, batch sizes, timeouts, barrier).
        dht: running DHT (:func:`node0_ops.swarm.peer.start_dht`).
        max_epochs: stop once the local epoch reaches this (global steps of the swarm).
        max_seconds: stop after this much wall time.
        step_delay: seconds to sleep per step (simulated compute for tiny smoke runs).
        on_epoch: called with each :class:`EpochRecord` (join and every epoch change).
        stop: event that ends training at the next step.
        record_values: put the flat LoRA values into each record (tiny models only).

    Returns:
        :class:`SwarmTrainResult`. The optimizer is shut down before returning; the DHT is not.

    Raises:
        ValueError: the model has no trainable parameters. TimeoutError: start-up barrier not reached.
        InterruptedError: ``stop`` was set at the barrier.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters: wrap it with peft get_peft_model(...) first")
    batches = list(batches)
    if not batches:
        raise ValueError("no batches for this peer: its shard is empty")
    start = time.time()
    result = SwarmTrainResult()
    losses: list[float] = []
    opt = None

    def emit(event: str) -> None:
        loss = sum(losses) / len(losses) if losses else None
        losses.clear()
        values = torch.cat([p.detach().flatten() for p in params]).tolist() if record_values else None
        loaded = bool(event == "join" and opt.join_report and opt.join_report.loaded_state)
        rec = EpochRecord(event, opt.local_epoch if opt else 0, lora_fingerprint(params),
                          opt.tracker.global_progress.num_peers if opt else 0, loss, result.steps, time.time(),
                          loaded, values)
        result.records.append(rec)
        if on_epoch is not None:
            on_epoch(rec)

    emit("init")
    opt = make_swarm_optimizer(params, cfg, dht, run_id, base_optimizer_factory, stop=stop)

    try:
        emit("join")
        last_epoch = opt.local_epoch
        model.train()
        for batch in itertools.cycle(batches):
            if stop is not None and stop.is_set():
                break
            if max_epochs is not None and opt.local_epoch >= max_epochs:
                break
            if max_seconds is not None and time.time() - start > max_seconds:
                break
            loss = model(**batch).loss
            loss.backward()
            losses.append(float(loss.detach()))
            if step_delay:
                time.sleep(step_delay)
            opt.step(batch_size=int(next(iter(batch.values())).shape[0]))
            opt.zero_grad()
            result.steps += 1
            if opt.local_epoch != last_epoch:
                last_epoch = opt.local_epoch
                emit("epoch")
    finally:
        result.final_epoch = opt.local_epoch
        result.seconds = time.time() - start
        opt.shutdown()
    return result
