"""The training loop on a tiny llama: learning, frozen base, hooks, schedule, stop."""

import math

import pytest
import torch

from node0_ops.train import adapters as A
from node0_ops.train.checkpoint import GracefulStop, latest_checkpoint
from node0_ops.train.data import tokenize_examples
from node0_ops.train.trainer import StepMetrics, Trainer, lr_lambda


def setup(cfg, rows, tokenizer):
    model, tok, _ = A.load_base_model(cfg)
    pm = A.new_adapter(model, cfg.lora, "role")
    exs, _ = tokenize_examples(rows, tok, cfg.max_seq_len)
    return pm, exs


def test_training_lowers_loss_and_changes_only_lora_weights(tiny_cfg, chat_rows, tokenizer):
    cfg = tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 25, "learning_rate": 3e-2, "lr_scheduler": "constant"})
    torch.manual_seed(0)
    pm, exs = setup(cfg, chat_rows[:6], tokenizer)
    base_before = {n: p.detach().clone() for n, p in pm.named_parameters() if "lora_" not in n}
    seen: list[StepMetrics] = []
    tr = Trainer(pm, cfg, exs, exs[:2], on_step=seen.append)
    val_before = tr.evaluate()["val_loss"]
    out = tr.train()
    assert out.status == "completed" and out.step == 25 and len(seen) == 25
    # a random 2-layer, 32-wide model starts at ln(49152) = 10.8 and learns slowly through LoRA
    assert seen[-1].loss < seen[0].loss - 0.05
    assert out.metrics["val_loss"] < val_before - 0.05
    assert all(m.tokens > 0 and m.tokens_per_s > 0 and math.isfinite(m.grad_norm) for m in seen)
    for n, p in pm.named_parameters():
        if "lora_" not in n:
            assert torch.equal(p, base_before[n]), n


def test_hooks_optimizer_factory_shard_and_on_step(tiny_cfg, chat_rows, tokenizer):
    pm, exs = setup(tiny_cfg, chat_rows, tokenizer)
    got = {}

    def factory(params):
        got["params"] = params
        got["opt"] = torch.optim.SGD(params, lr=0.1)
        return got["opt"]

    calls = []
    tr = Trainer(pm, tiny_cfg, exs, optimizer_factory=factory, shard=(1, 3), on_step=calls.append,
                 peers_fn=lambda: 3)
    assert [e.example_id for e in tr.train_data] == [e.example_id for e in exs[1::3]]
    out = tr.train()
    lora = [p for n, p in pm.named_parameters() if "lora_" in n]
    assert len(got["params"]) == len(lora) and all(p.requires_grad for p in got["params"])
    assert tr.optimizer is got["opt"]
    assert [m.step for m in calls] == list(range(1, tiny_cfg.max_steps + 1))
    assert all(m.peers == 3 for m in calls) and out.status == "completed"
    with pytest.raises(ValueError, match="shard"):
        Trainer(pm, tiny_cfg, exs, shard=(3, 3))


def test_lr_schedule_warmup_then_cosine_and_linear(tiny_cfg):
    cos = lr_lambda(tiny_cfg.__class__(**{**tiny_cfg.__dict__, "warmup_steps": 2, "min_lr_ratio": 0.1}), 12)
    assert [cos(0), cos(1), cos(2)] == [0.0, 0.5, 1.0]
    assert cos(7) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cos(12) == pytest.approx(0.1)
    lin = lr_lambda(tiny_cfg.__class__(**{**tiny_cfg.__dict__, "warmup_steps": 0, "lr_scheduler": "linear"}), 10)
    assert lin(5) == pytest.approx(0.5)


def test_eval_every_and_stop_request_checkpoint(tmp_path, tiny_cfg, chat_rows, tokenizer):
    cfg = tiny_cfg.__class__(**{**tiny_cfg.__dict__, "eval_every": 2})
    pm, exs = setup(cfg, chat_rows, tokenizer)
    stop = GracefulStop()

    def on_step(m):
        if m.step == 3:
            stop.request()

    out = Trainer(pm, cfg, exs, exs[:3], run_dir=tmp_path, stop=stop, on_step=on_step).train()
    assert out.status == "paused" and out.step == 3
    assert out.history[1]["val_loss"] is not None and out.history[0]["val_loss"] is None
    assert latest_checkpoint(tmp_path).name == "step-000003"


def test_no_trainable_parameter_is_refused(tiny_cfg, chat_rows, tokenizer):
    model, tok, _ = A.load_base_model(tiny_cfg)
    for p in model.parameters():
        p.requires_grad_(False)
    exs, _ = tokenize_examples(chat_rows, tok, 256)
    with pytest.raises(ValueError, match="no trainable parameter"):
        Trainer(model, tiny_cfg, exs).train()


def test_budget_steps_fits_the_measured_step_time_and_never_exceeds_the_cap():
    from node0_ops.train.trainer import budget_steps

    assert budget_steps(60.0, [5.0, 1.0, 1.0, 1.0], 1000) == 4 + 52     # first step left out of the estimate
    assert budget_steps(60.0, [1.0, 1.0, 1.0, 1.0], 20) == 20           # capped by max_steps
    assert budget_steps(1.0, [1.0, 1.0, 1.0, 1.0], 1000) == 4           # budget already spent: stop now


def test_time_budget_shortens_the_run_and_the_schedule_still_decays(tiny_cfg, chat_rows, tokenizer):
    from node0_ops.train.trainer import BUDGET_PROBE_STEPS

    cfg = tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 40, "max_minutes": 1e-6, "warmup_steps": 0,
                                "checkpoint_every": 0})
    pm, exs = setup(cfg, chat_rows, tokenizer)
    tr = Trainer(pm, cfg, exs)
    out = tr.train()
    assert out.step == BUDGET_PROBE_STEPS < cfg.max_steps
    assert out.history[0]["lr"] == cfg.learning_rate
    assert tr.scheduler.lr_lambdas[0](out.step) < 0.01          # the schedule now ends at the fitted length


def test_max_minutes_is_validated():
    import pytest

    from node0_ops.train.sft_config import SFTConfig

    with pytest.raises(ValueError, match="max_minutes"):
        SFTConfig(max_minutes=-1)
