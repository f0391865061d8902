"""Role adapters, task adapters stacked on a frozen role adapter, the adapter folder format."""

import json

import torch

from node0_ops.train import adapters as A
from node0_ops.train.data import build_row, tokenize_examples
from node0_ops.train.trainer import Trainer


def test_task_adapter_trains_on_a_frozen_active_role_adapter_and_stacks_at_inference(tmp_path, tiny_cfg, chat_rows):
    cfg = tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 4, "learning_rate": 2e-2})
    model, tok, folder = A.load_base_model(cfg)
    exs, _ = tokenize_examples(chat_rows, tok, cfg.max_seq_len)
    role = A.new_adapter(model, cfg.lora, "role")
    Trainer(role, cfg, exs[:8]).train()
    A.save_adapter(role, "role", tmp_path / "role", {"kind": "role", "role": "polecat", "base_folder": str(folder)})

    model2, _, _ = A.load_base_model(cfg)
    pm = A.stack_task_adapter(model2, tmp_path / "role", cfg.lora)
    assert A.trainable_adapter_names(pm) == {"task"}
    assert set(pm.base_model.active_adapters) == {"role", "task"}
    role_before = {k: v.clone() for k, v in A.adapter_state(pm, "role").items()}
    Trainer(pm, cfg, exs[8:16]).train()
    role_after = A.adapter_state(pm, "role")
    assert all(torch.equal(role_before[k], role_after[k]) for k in role_before)
    task_sd = A.adapter_state(pm, "task")
    assert any(v.abs().sum() > 0 for k, v in task_sd.items() if "lora_B" in k)  # the task adapter learned
    A.save_adapter(pm, "task", tmp_path / "task", {"kind": "task", "role": "polecat", "task": "git-workflow",
                                                    "parent_adapter": str(tmp_path / "role"), "base_folder": str(folder)})
    for f in ("adapter_config.json", "adapter_model.safetensors", "chat_template.jinja", "gastown_adapter.json"):
        assert (tmp_path / "task" / f).exists()

    row = build_row(exs[:3])
    pm.eval()
    with torch.no_grad():
        trained = pm(input_ids=row.input_ids, position_ids=row.position_ids).logits
    chain = A.adapter_chain(tmp_path / "task")
    assert chain == [tmp_path / "role", tmp_path / "task"]
    base3, _, _ = A.load_base_model(cfg)
    stacked = A.load_adapter_stack(base3, chain)
    with torch.no_grad():
        served = stacked(input_ids=row.input_ids, position_ids=row.position_ids).logits
        with stacked.disable_adapter():
            bare = stacked(input_ids=row.input_ids, position_ids=row.position_ids).logits
        stacked.base_model.set_adapter(["a0"])
        role_only = stacked(input_ids=row.input_ids, position_ids=row.position_ids).logits
    assert (served - trained).abs().max() <= 1e-5
    assert (served - role_only).abs().max() > 1e-4 and (role_only - bare).abs().max() > 1e-4


def test_api_adapter_metadata_and_stock_peft_loading(tmp_path, tiny_cfg, chat_rows, state):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from node0_ops.paths import lineage_db_path
    from node0_ops.train.api import train_role_adapter, train_task_adapter
    from node0_ops.train.tracking import get_run, open_db

    db = open_db(lineage_db_path(state))
    role = train_role_adapter(tiny_cfg, chat_rows[:16], chat_rows[16:], tmp_path / "role", db=db,
                              run_meta={"role": "polecat", "corpus_version": "v-test"})
    task = train_task_adapter(tiny_cfg, chat_rows[:8], chat_rows[20:], tmp_path / "task", db=db,
                              role_adapter_dir=role.adapter_dir, run_meta={"role": "polecat", "task": "git-workflow"})
    meta = json.loads((tmp_path / "task" / "gastown_adapter.json").read_text())
    assert meta["kind"] == "task" and meta["role"] == "polecat" and meta["task"] == "git-workflow"
    assert meta["parent_adapter"] == role.adapter_dir and meta["run_id"] == task.run_id
    assert meta["base"] == tiny_cfg.base and len(meta["base_fingerprint"]) == 16
    assert meta["corpus_version"].startswith("content:") and len(meta["corpus_hash"]) == 16
    assert meta["hyperparameters"]["lora"]["r"] == tiny_cfg.lora.r
    assert meta["metrics"]["steps"] == tiny_cfg.max_steps and "val_loss" in meta["metrics"]
    rmeta = A.read_metadata(role.adapter_dir)
    assert rmeta["corpus_version"] == "v-test" and rmeta["kind"] == "role"
    row = get_run(db, task.run_id)
    assert row["status"] == "completed" and row["adapter_path"] == task.adapter_dir
    assert row["parent_adapter"] == role.adapter_dir
    base = AutoModelForCausalLM.from_pretrained(tiny_cfg.base)
    pm = PeftModel.from_pretrained(base, role.adapter_dir)  # stock PEFT layout
    assert sum(p.numel() for n, p in pm.named_parameters() if "lora_" in n) > 0


def test_top_layers_adapts_only_the_upper_decoder_layers_and_trains(tmp_path, tiny_cfg, chat_rows):
    from node0_ops.train.lora_config import LoraConfig

    lora = LoraConfig(r=4, lora_alpha=8, top_layers=1)
    cfg = tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 3, "learning_rate": 2e-2, "lora": lora})
    model, tok, folder = A.load_base_model(cfg)
    exs, _ = tokenize_examples(chat_rows, tok, cfg.max_seq_len)
    pm = A.new_adapter(model, cfg.lora, "role")
    names = [n for n, p in pm.named_parameters() if p.requires_grad]
    assert names and all(".layers.1." in n for n in names)          # the tiny base has 2 layers: only the top one
    n_params = sum(p.numel() for p in pm.parameters() if p.requires_grad)
    assert n_params == lora.n_params(32, 64, 2, 4, 2)
    Trainer(pm, cfg, exs[:6]).train()
    sd = A.adapter_state(pm, "role")
    assert any(v.abs().sum() > 0 for k, v in sd.items() if "lora_B" in k)
    A.save_adapter(pm, "role", tmp_path / "role", {"kind": "role", "role": "deacon", "base_folder": str(folder)})
    saved = json.loads((tmp_path / "role" / "adapter_config.json").read_text())
    assert saved["layers_to_transform"] == [1]


def test_top_layers_is_validated():
    import pytest

    from node0_ops.train.lora_config import LoraConfig

    with pytest.raises(ValueError, match="top_layers"):
        LoraConfig(top_layers=-1)
    with pytest.raises(ValueError, match="only 2 decoder layers"):
        LoraConfig(top_layers=3).to_peft(2)
    with pytest.raises(ValueError, match="layer count"):
        LoraConfig(top_layers=3).to_peft()
    assert LoraConfig().to_peft(24).layers_to_transform is None


def test_lora_plus_gives_b_matrices_a_larger_learning_rate(tiny_cfg, chat_rows):
    cfg = tiny_cfg.__class__(**{**tiny_cfg.__dict__, "max_steps": 2, "learning_rate": 1e-3, "lora_plus_ratio": 16.0,
                                "warmup_steps": 0, "lr_scheduler": "constant"})
    model, tok, _ = A.load_base_model(cfg)
    exs, _ = tokenize_examples(chat_rows, tok, cfg.max_seq_len)
    pm = A.new_adapter(model, cfg.lora, "role")
    trainer = Trainer(pm, cfg, exs[:4])
    trainer.train()
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [1e-3, 16e-3]
    names = {id(p): n for n, p in pm.named_parameters()}
    assert all(".lora_A." in names[id(p)] for p in groups[0]["params"])
    assert all(".lora_B." in names[id(p)] for p in groups[1]["params"])
    assert len(A.optimizer_groups(pm, 1e-3)) == 1                      # plain LoRA: one group


def test_lora_plus_ratio_is_validated():
    import pytest

    from node0_ops.train.sft_config import SFTConfig

    with pytest.raises(ValueError, match="lora_plus_ratio"):
        SFTConfig(lora_plus_ratio=0.5)
