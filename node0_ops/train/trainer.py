"""Our own LoRA training loop (torch + peft, no HF Trainer): packed micro-batches, gradient
accumulation, AdamW on the trainable LoRA parameters only, grad clipping, LR warmup + cosine/linear
decay, periodic eval and checkpoints, graceful stop, exact resume.

Interface for other subsystems (kept stable; the Hivemind swarm trainer plugs in here)::

    Trainer(model, cfg, train_data, val_data=None, *,
            objective=None,                 # SFTObjective(cfg) by default; DPOObjective for DPO
            optimizer_factory=None,         # Callable[[list[nn.Parameter]], torch.optim.Optimizer]
            shard=(0, 1),                   # (index, count): train on train_data[index::count]
            on_step=None,                   # Callable[[StepMetrics], None], after each optimizer step
            peers_fn=None,                  # Callable[[], int | None]: fills StepMetrics.peers
            run_dir=None, stop=None, checkpoint_meta=None, device=None, autocast_dtype=None)
    outcome = trainer.train()               # TrainOutcome(status, step, history, metrics)

- ``optimizer_factory`` gets exactly the ``requires_grad`` parameters (LoRA weights of the
  trainable adapter) and returns the optimizer (e.g. a ``hivemind.Optimizer`` wrapping AdamW). The
  trainer still calls ``zero_grad`` / ``clip_grad_norm_`` / ``step()`` once per optimizer step
  (after ``gradient_accumulation_steps`` micro-batches) and wraps it in a ``LambdaLR`` schedule.
- ``shard`` is applied to the example list before packing, so peers see disjoint examples.
- ``on_step`` receives :class:`StepMetrics` (step, loss, lr, grad_norm, tokens/s, val_loss, peers).

Loss normalisation: for SFT the summed token cross-entropy of a whole optimizer step is divided
by the number of label tokens in that step (a true token mean across micro-batches).

Usage::

    trainer = Trainer(peft_model, cfg, train_examples, val_examples, run_dir=run_dir)
    outcome = trainer.train()
"""

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch
import torch.nn.functional as F

from node0_ops.train import checkpoint as ckpt
from node0_ops.train.data import IGNORE, TokenizedExample, build_row, plan_rows


@dataclass
class StepMetrics:
    """Metrics of one optimizer step (what ``on_step`` receives and ``train_metrics`` stores).

    Attributes:
        step: 1-based optimizer step.  epoch: 0-based epoch of the data cursor.
        loss: mean training loss of the step (token mean for SFT, pair mean for DPO).
        lr: learning rate used for the step.  grad_norm: L2 norm of the LoRA gradients before clipping.
        tokens: tokens processed in the step (no padding exists).  tokens_per_s: tokens / step_time_s.
        step_time_s: wall seconds of forward+backward+update.  val_loss: set on eval steps.
        peers: swarm size reported by ``peers_fn`` (None alone).  extra: objective-specific metrics.
    """

    step: int
    epoch: int
    loss: float
    lr: float
    grad_norm: float
    tokens: int
    tokens_per_s: float
    step_time_s: float
    val_loss: float | None = None
    peers: int | None = None
    ts: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainOutcome:
    """Result of :meth:`Trainer.train`: status ``completed`` | ``paused`` | ``cancelled``."""

    status: str
    step: int
    history: list[dict]
    metrics: dict
    checkpoint: str | None = None


class Objective(Protocol):
    """What differs between SFT and DPO; the loop in :class:`Trainer` is shared."""

    def plan(self, data: Sequence, epoch: int, seed: int) -> list[list[int]]:
        """Micro-batches of one epoch as lists of indices into ``data``."""

    def weight(self, items: Sequence) -> float:
        """Normaliser contribution of a micro-batch (label tokens for SFT, pairs for DPO)."""

    def loss(self, model, items: Sequence) -> tuple[torch.Tensor, int, dict]:
        """``(summed loss, tokens processed, extra metrics)`` of one micro-batch."""

    def evaluate(self, model, data: Sequence) -> dict:
        """Validation metrics (``val_loss`` and objective-specific ones); ``{}`` without data."""

    def prepare(self, model, train: Sequence, val: Sequence) -> None:
        """One-off work before the first step (DPO: reference log-probs)."""


class SFTObjective:
    """Causal-LM cross-entropy on assistant tokens of packed rows (see :mod:`node0_ops.train.data`).

    With ``loss_on_label_positions_only`` the LM head runs only on positions whose next token is a
    label (``logits_to_keep`` = those positions): same loss and gradients, fewer FLOPs.
    """

    def __init__(self, cfg, device: str = "cpu", autocast_dtype: torch.dtype | None = None):
        self.cfg = cfg
        self.device = device
        self.autocast_dtype = autocast_dtype

    def plan(self, data: Sequence[TokenizedExample], epoch: int, seed: int) -> list[list[int]]:
        return plan_rows([len(e) for e in data], self.cfg.max_seq_len, seed, epoch,
                         bucket=self.cfg.packing_bucket, pack=self.cfg.packing)

    def weight(self, items: Sequence[TokenizedExample]) -> float:
        return float(sum(sum(1 for x in e.labels[1:] if x != IGNORE) for e in items))

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(device_type="cpu", enabled=False)
        return torch.autocast(device_type=self.device, dtype=self.autocast_dtype)

    def loss(self, model, items: Sequence[TokenizedExample]) -> tuple[torch.Tensor, int, dict]:
        row = build_row(items).to(self.device)
        tgt = row.targets[0]
        kw: dict[str, Any] = {}
        if self.cfg.loss_on_label_positions_only:
            keep = (tgt != IGNORE).nonzero().squeeze(1)
            kw["logits_to_keep"] = keep
            tgt = tgt[keep]
        with self._autocast():
            out = model(input_ids=row.input_ids, position_ids=row.position_ids, use_cache=False, **kw)
        logits = out.logits[0].float()
        loss = F.cross_entropy(logits, tgt, ignore_index=IGNORE, reduction="sum")
        return loss, row.n_tokens, {}

    @torch.no_grad()
    def evaluate(self, model, data: Sequence[TokenizedExample]) -> dict:
        if not data:
            return {}
        total, count = 0.0, 0.0
        for idxs in plan_rows([len(e) for e in data], self.cfg.max_seq_len, 0, 0, pack=self.cfg.packing):
            items = [data[i] for i in idxs]
            loss, _, _ = self.loss(model, items)
            total += float(loss)
            count += self.weight(items)
        return {"val_loss": total / max(count, 1.0)}

    def prepare(self, model, train, val) -> None:
        return None


def lr_lambda(cfg, total_steps: "int | Callable[[], int]") -> Callable[[int], float]:
    """LR multiplier per step: linear warmup then cosine/linear decay to ``min_lr_ratio``
    (the formulas of transformers' ``get_cosine_schedule_with_warmup`` / linear schedule).

    ``total_steps`` may be a callable: a time-budgeted run (``max_minutes``) fixes its length
    after a few measured steps, and the schedule follows."""
    floor = cfg.min_lr_ratio

    def f(step: int) -> float:
        total = total_steps() if callable(total_steps) else total_steps
        warm = cfg.warmup_steps if cfg.warmup_steps is not None else int(math.ceil(cfg.warmup_ratio * total))
        if step < warm:
            return step / max(1, warm)
        if cfg.lr_scheduler == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total - warm))
        decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if cfg.lr_scheduler == "cosine" else 1.0 - progress
        return floor + (1.0 - floor) * decay

    return f


BUDGET_PROBE_STEPS = 4      # steps timed before a time-budgeted run fixes its length


def budget_steps(budget_s: float, step_times: Sequence[float], cap: int) -> int:
    """Total optimizer steps that fit a wall-clock budget.

    Args:
        budget_s: the whole run's training budget in seconds.
        step_times: seconds of the steps run so far (the first one, which pays one-off costs such
            as oneDNN kernel selection, is left out of the estimate when there are others).
        cap: the configured maximum (``max_steps`` or the epochs' steps); never exceeded.

    Returns:
        ``min(cap, steps that fit)``, at least the steps already run.
    """
    times = list(step_times[1:] or step_times)
    per_step = sum(times) / len(times)
    spent = sum(step_times)
    fit = len(step_times) + int(max(0.0, budget_s - spent) / per_step) if per_step > 0 else cap
    return max(len(step_times), min(cap, fit))


class Trainer:
    """The training loop (see the module docstring for the stable interface).

    Raises (from :meth:`train`):
        ValueError: no trainable parameter, or no training data after sharding.
    """

    def __init__(self, model, cfg, train_data: Sequence, val_data: Sequence | None = None, *,
                 objective: Objective | None = None,
                 optimizer_factory: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer] | None = None,
                 shard: tuple[int, int] = (0, 1),
                 on_step: Callable[[StepMetrics], None] | None = None,
                 peers_fn: Callable[[], int | None] | None = None,
                 run_dir: str | Path | None = None,
                 stop: ckpt.GracefulStop | None = None,
                 checkpoint_meta: dict | None = None,
                 trainable_adapter: str | None = None,
                 device: str = "cpu",
                 autocast_dtype: torch.dtype | None = None):
        index, count = shard
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard={shard!r} must be (index, count) with 0 <= index < count")
        self.model = model
        self.cfg = cfg
        self.train_data = list(train_data)[index::count]
        self.val_data = list(val_data or [])
        self.objective = objective or SFTObjective(cfg, device, autocast_dtype)
        self.optimizer_factory = optimizer_factory
        self.shard = (index, count)
        self.callbacks: list[Callable[[StepMetrics], None]] = [on_step] if on_step else []
        self.peers_fn = peers_fn
        self.run_dir = Path(run_dir) if run_dir else None
        self.stop = stop or ckpt.GracefulStop()
        self.checkpoint_meta = dict(checkpoint_meta or {})
        self.trainable_adapter = trainable_adapter
        self.history: list[dict] = []
        self._resume: dict | None = None
        self.optimizer = None
        self.scheduler = None

    # ------------------------------------------------------------------ checkpoints
    def resume_from(self, checkpoint_dir: str | Path) -> dict:
        """Load a checkpoint: adapter weights now, optimizer/scheduler/RNG/cursor when ``train`` starts.
        Returns the checkpoint's ``meta``."""
        from node0_ops.train.adapters import load_adapter_state

        state, adapter_sd, meta = ckpt.load_checkpoint(checkpoint_dir)
        load_adapter_state(self.model, self._adapter_name(), adapter_sd)
        self._resume = state
        self.history = list(state.get("history", []))
        return meta

    def _adapter_name(self) -> str:
        if self.trainable_adapter:
            return self.trainable_adapter
        from node0_ops.train.adapters import trainable_adapter_names

        names = sorted(trainable_adapter_names(self.model))
        if len(names) != 1:
            raise ValueError(f"expected exactly one trainable adapter, found {names}; pass trainable_adapter=")
        self.trainable_adapter = names[0]
        return names[0]

    def save_checkpoint(self, step: int, epoch: int, pos: int, plan: list[list[int]]) -> Path | None:
        """Write a resumable checkpoint into ``run_dir`` (no-op without a run_dir)."""
        if self.run_dir is None:
            return None
        from node0_ops.train.adapters import adapter_config_dict, adapter_state

        name = self._adapter_name()
        opt_state = None
        try:
            opt_state = self.optimizer.state_dict()
        except Exception:  # noqa: BLE001 - a swarm optimizer may not expose a local state_dict
            opt_state = None
        state = {"step": step, "epoch": epoch, "pos": pos, "plan": plan, "optimizer": opt_state,
                 "scheduler": self.scheduler.state_dict(), "rng": ckpt.rng_state(), "history": self.history,
                 "shard": self.shard, "total_steps": self._total}
        return ckpt.save_checkpoint(self.run_dir, step=step, adapter_state=adapter_state(self.model, name),
                                    trainer_state=state, meta=self.checkpoint_meta,
                                    adapter_config=adapter_config_dict(self.model, name),
                                    keep=self.cfg.save_total_limit)

    # ------------------------------------------------------------------ loop
    def total_steps(self) -> int:
        """Optimizer steps of the whole run (``max_steps`` or epochs x steps per epoch)."""
        if self.cfg.max_steps > 0:
            return self.cfg.max_steps
        per_epoch = math.ceil(len(self.objective.plan(self.train_data, 0, self.cfg.seed)) /
                              self.cfg.gradient_accumulation_steps)
        return per_epoch * self.cfg.num_epochs

    def evaluate(self) -> dict:
        """Validation metrics of the current model (eval mode, no grad)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.objective.evaluate(self.model, self.val_data)
        finally:
            self.model.train(was_training)

    def train(self) -> TrainOutcome:
        from node0_ops.train.adapters import trainable_parameters

        cfg = self.cfg
        if not self.train_data:
            raise ValueError(f"no training examples for shard {self.shard} (train on more data or fewer shards)")
        params = trainable_parameters(self.model)
        if not params:
            raise ValueError("the model has no trainable parameter: attach a trainable LoRA adapter first")
        self.objective.prepare(self.model, self.train_data, self.val_data)
        if self.optimizer_factory is not None:
            self.optimizer = self.optimizer_factory(params)
        else:
            from node0_ops.train.adapters import optimizer_groups

            groups = optimizer_groups(self.model, cfg.learning_rate, getattr(cfg, "lora_plus_ratio", 1.0))
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2),
                                               eps=cfg.adam_epsilon, weight_decay=cfg.weight_decay)
        self._total = self.total_steps()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(cfg, lambda: self._total))
        step, epoch, pos, plan = 0, 0, 0, None
        if self._resume is not None:
            st = self._resume
            if st.get("optimizer") is not None:
                self.optimizer.load_state_dict(st["optimizer"])
            self.scheduler.load_state_dict(st["scheduler"])
            step, epoch, pos, plan = st["step"], st["epoch"], st["pos"], st["plan"]
            self._total = int(st.get("total_steps") or self._total)
            ckpt.set_rng_state(st["rng"])
        if plan is None:
            plan = self.objective.plan(self.train_data, epoch, cfg.seed)
        self.model.train()
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")
        accum = cfg.gradient_accumulation_steps
        status, last_ckpt = "completed", None
        budget_s = 60.0 * float(getattr(cfg, "max_minutes", 0) or 0)
        step_times: list[float] = []
        while step < self._total:
            if pos >= len(plan):
                epoch, pos = epoch + 1, 0
                if cfg.max_steps == -1 and epoch >= cfg.num_epochs:
                    break
                plan = self.objective.plan(self.train_data, epoch, cfg.seed)
            group = plan[pos:pos + accum]
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            denom = sum(self.objective.weight([self.train_data[i] for i in idxs]) for idxs in group) or 1.0
            loss_sum, tokens, extra = 0.0, 0, {}
            for idxs in group:
                items = [self.train_data[i] for i in idxs]
                loss, n_tok, info = self.objective.loss(self.model, items)
                (loss / denom).backward()
                loss_sum += float(loss.detach())
                tokens += n_tok
                for k, v in info.items():
                    extra[k] = extra.get(k, 0.0) + v
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            pos += len(group)
            step += 1
            dt = time.perf_counter() - t0
            step_times.append(dt)
            if budget_s and len(step_times) == BUDGET_PROBE_STEPS and self._resume is None:
                self._total = budget_steps(budget_s, step_times, self._total)
            m = StepMetrics(step=step, epoch=epoch, loss=loss_sum / denom, lr=lr, grad_norm=grad_norm,
                            tokens=tokens, tokens_per_s=tokens / dt if dt > 0 else 0.0, step_time_s=dt,
                            peers=self.peers_fn() if self.peers_fn else None, ts=time.time(),
                            extra={k: v / max(len(group), 1) for k, v in extra.items()})
            if cfg.eval_every and step % cfg.eval_every == 0 and step < self._total:
                ev = self.evaluate()
                m.val_loss = ev.get("val_loss")
                m.extra.update({k: v for k, v in ev.items() if k != "val_loss"})
            self.history.append(m.to_dict())
            for cb in self.callbacks:
                cb(m)
            if self.run_dir is not None and not self.stop.requested:
                if (self.run_dir / ckpt.CANCEL_MARKER).exists():
                    self.stop.request("cancel")
                elif (self.run_dir / ckpt.PAUSE_MARKER).exists():
                    self.stop.request("pause")
            if self.stop.requested:
                last_ckpt = self.save_checkpoint(step, epoch, pos, plan)
                cancel = self.run_dir is not None and (self.run_dir / ckpt.CANCEL_MARKER).exists()
                status = "cancelled" if cancel or self.stop.requested == "cancel" else "paused"
                break
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < self._total:
                last_ckpt = self.save_checkpoint(step, epoch, pos, plan)
        metrics = self._summary(step)
        if status == "completed":
            final = self.evaluate()
            metrics.update(final)
            if self.history and final:
                self.history[-1]["val_loss"] = final.get("val_loss")
        return TrainOutcome(status, step, self.history, metrics, str(last_ckpt) if last_ckpt else None)

    def _summary(self, step: int) -> dict:
        h = self.history
        if not h:
            return {"steps": step}
        tail = h[-min(5, len(h)):]
        tok = sum(r["tokens"] for r in h)
        secs = sum(r["step_time_s"] for r in h)
        return {"steps": step, "train_loss": h[-1]["loss"], "train_loss_last5": sum(r["loss"] for r in tail) / len(tail),
                "tokens": tok, "train_seconds": secs, "tokens_per_s": tok / secs if secs else 0.0,
                "n_train_examples": len(self.train_data), "n_val_examples": len(self.val_data)}
