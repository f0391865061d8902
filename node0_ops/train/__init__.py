"""LoRA training for gastown-finetune: SFT role adapters, stacked task adapters, DPO.

Modules: ``sft_config``/``dpo_config``/``lora_config`` (dataclass configs), ``chat_template``
(the one template used to train and serve), ``data`` (tokenize, mask, pack), ``trainer`` (our
loop; hooks for the swarm), ``adapters`` (PEFT adapters, stacking, folder format), ``dpo``
(Rafailov et al. 2023 loss), ``checkpoint`` (exact resume, SIGTERM/SIGINT), ``resources_guard``
(memory estimate), ``tracking`` (DuckDB ``train_runs``/``train_metrics``, loss curves), ``runner``
(run specs), ``api`` (Python entry points), ``cli`` (``node0-finetune``), ``worker`` (child process).

Usage::

    from node0_ops.train import SFTConfig, train_role_adapter
    res = train_role_adapter(SFTConfig(max_steps=20), train_examples, val_examples, "out/polecat")
"""

_LAZY = {
    "SFTConfig": "node0_ops.train.sft_config", "DPOConfig": "node0_ops.train.dpo_config",
    "LoraConfig": "node0_ops.train.lora_config", "Trainer": "node0_ops.train.trainer",
    "StepMetrics": "node0_ops.train.trainer", "TrainResult": "node0_ops.train.runner",
    "train_role_adapter": "node0_ops.train.api", "train_task_adapter": "node0_ops.train.api",
    "train_dpo": "node0_ops.train.api", "run_in_subprocess": "node0_ops.train.api",
    "resume_run": "node0_ops.train.api", "cancel_run": "node0_ops.train.api", "pause_run": "node0_ops.train.api",
    "chat_template": "node0_ops.train.chat_template",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'node0_ops.train' has no attribute {name!r}")
