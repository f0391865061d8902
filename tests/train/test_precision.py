"""Training precision plan: the CPU probe picks the layout, frozen linears are stored in bf16 on
CPUs with native bf16, LoRA/gradients/AdamW stay fp32, the memory guard counts the real bytes,
runs record the plan, and merging still starts from the fp32 base on disk."""

import json

import pytest
import torch

from node0_ops.models.cpu import parse_cpuinfo
from node0_ops.train import adapters as A
from node0_ops.train.data import build_row, tokenize_examples
from node0_ops.train.precision import precision_plan, weight_dtypes
from node0_ops.train.resources_guard import check_memory, estimate_memory, model_shape
from node0_ops.train.trainer import SFTObjective, Trainer

AMX = parse_cpuinfo("model name : Intel Xeon\nflags : avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n", "x86_64")
AVX512 = parse_cpuinfo("model name : AMD EPYC\nflags : avx512f avx512_bf16\n", "x86_64")
SMOLLM2 = {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
           "head_dim": 64, "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}
PLAIN = parse_cpuinfo("model name : Old CPU\nflags : avx2 fma\n", "x86_64")


@pytest.mark.parametrize("feat,path", [(AMX, "amx_bf16"), (AVX512, "avx512_bf16")])
def test_auto_on_a_native_bf16_cpu_stores_frozen_linears_in_bf16_under_autocast(feat, path):
    plan = precision_plan("auto", "cpu", feat)
    assert (plan.layout, plan.weight_dtype, plan.autocast_dtype, plan.cpu_bf16_path) == ("cpu_bf16", "bfloat16", "bfloat16", path)
    assert plan.lora_dtype == "float32" and set(plan.fp32_modules) == {"embeddings", "norms"}
    assert path in plan.reason and json.loads(json.dumps(plan.to_dict()))["layout"] == "cpu_bf16"


def test_auto_without_native_bf16_and_forced_modes():
    assert precision_plan("auto", "cpu", PLAIN).layout == "fp32"
    assert precision_plan("auto", "cpu", PLAIN).autocast_dtype is None
    assert precision_plan("fp32", "cpu", AMX).layout == "fp32"
    forced = precision_plan("bf16", "cpu", PLAIN)
    assert forced.layout == "cpu_bf16" and "emulated" in forced.reason
    assert precision_plan("auto", "cuda", PLAIN).layout == "cuda_bf16"
    assert precision_plan("fp32", "cuda", AMX).layout == "fp32"
    with pytest.raises(ValueError, match="precision"):
        precision_plan("fp16", "cpu", AMX)


def _cfg(tiny_cfg, **kw):
    return tiny_cfg.__class__(**{**tiny_cfg.__dict__, **kw})


def test_resolve_precision_follows_the_cpu_probe(monkeypatch, tiny_cfg):
    import node0_ops.models.cpu as cpu

    monkeypatch.setattr(cpu, "cpu_features", lambda: AMX)
    assert A.resolve_precision(_cfg(tiny_cfg, precision="auto")).layout == "cpu_bf16"
    assert A.resolve_device(_cfg(tiny_cfg, precision="auto")) == ("cpu", torch.bfloat16, torch.bfloat16)
    monkeypatch.setattr(cpu, "cpu_features", lambda: PLAIN)
    assert A.resolve_device(_cfg(tiny_cfg, precision="auto")) == ("cpu", torch.float32, None)


def test_bf16_layout_keeps_lora_grads_and_adamw_in_fp32_and_loss_close_to_fp32(tiny_cfg, chat_rows):
    cfg = _cfg(tiny_cfg, precision="bf16", max_steps=2)
    model, tok, _ = A.load_base_model(cfg)
    assert model.lm_head.weight is model.get_input_embeddings().weight  # tied: stays fp32
    layer = model.model.layers[0]
    assert layer.self_attn.q_proj.weight.dtype == torch.bfloat16 and layer.mlp.down_proj.weight.dtype == torch.bfloat16
    assert model.get_input_embeddings().weight.dtype == torch.float32
    assert layer.input_layernorm.weight.dtype == torch.float32 and model.model.norm.weight.dtype == torch.float32
    pm = A.new_adapter(model, cfg.lora, "role")
    lora = [(n, p) for n, p in pm.named_parameters() if "lora_" in n]
    assert lora and all(p.dtype == torch.float32 and p.requires_grad for _, p in lora)
    assert not any(p.requires_grad for n, p in pm.named_parameters() if "lora_" not in n)
    exs, _ = tokenize_examples(chat_rows, tok, cfg.max_seq_len)
    trainer = Trainer(pm, cfg, exs[:6], autocast_dtype=torch.bfloat16)
    trainer.train()
    moments = [s for st in trainer.optimizer.state.values() for s in (st["exp_avg"], st["exp_avg_sq"])]
    assert moments and all(m.dtype == torch.float32 for m in moments)
    assert all(p.dtype == torch.float32 for _, p in lora)
    # the same LoRA weights over the fp32 base give nearly the same loss, with and without autocast
    ref, _, _ = A.load_base_model(_cfg(tiny_cfg, precision="fp32"))
    ref_pm = A.new_adapter(ref, cfg.lora, "role")
    A.load_adapter_state(ref_pm, "role", A.adapter_state(pm, "role"))
    pm.eval()
    ref_pm.eval()
    bf16_loss = SFTObjective(cfg, "cpu", torch.bfloat16).evaluate(pm, exs[6:12])["val_loss"]
    plain_loss = SFTObjective(cfg, "cpu", None).evaluate(pm, exs[6:12])["val_loss"]  # pre-hooks cast inputs
    fp32_loss = SFTObjective(cfg, "cpu", None).evaluate(ref_pm, exs[6:12])["val_loss"]
    assert bf16_loss == pytest.approx(fp32_loss, rel=0.02) and plain_loss == pytest.approx(fp32_loss, rel=0.02)
    assert bf16_loss != fp32_loss  # the bf16 path really ran


def test_stacked_role_adapter_on_a_bf16_base_stays_fp32(tmp_path, tiny_cfg, chat_rows):
    cfg = _cfg(tiny_cfg, precision="bf16", max_steps=1)
    model, tok, folder = A.load_base_model(cfg)
    role = A.new_adapter(model, cfg.lora, "role")
    A.save_adapter(role, "role", tmp_path / "role", {"kind": "role", "base_folder": str(folder)})
    model2, _, _ = A.load_base_model(cfg)
    pm = A.stack_task_adapter(model2, tmp_path / "role", cfg.lora)
    dtypes = {p.dtype for n, p in pm.named_parameters() if "lora_" in n}
    assert dtypes == {torch.float32}
    assert weight_dtypes(pm)["linear:torch.bfloat16"] > 0 and "lora:torch.bfloat16" not in weight_dtypes(pm)


def test_memory_guard_weights_match_the_loaded_bytes(tiny_cfg, tiny_base):
    config = json.loads((tiny_base / "config.json").read_text())
    for precision, layout in (("fp32", "fp32"), ("bf16", "cpu_bf16")):
        cfg = _cfg(tiny_cfg, precision=precision)
        model, _, _ = A.load_base_model(cfg)
        real = sum(p.numel() * p.element_size() for p in model.parameters())  # unique (tied counted once)
        est = check_memory(cfg, tiny_base, free_bytes=2 ** 40)
        assert est.layout == layout and est.weights == real
        assert sum(p.numel() for p in model.parameters()) == model_shape(config)["params"]


def test_memory_guard_bf16_layout_counts_steady_bytes_and_the_fp32_load():
    from node0_ops.train.sft_config import SFTConfig

    fp32 = estimate_memory(SFTConfig(precision="fp32"), SMOLLM2)
    mixed = estimate_memory(SFTConfig(), SMOLLM2, layout="cpu_bf16")
    s = model_shape(SMOLLM2)
    assert mixed.weights == s["linear_params"] * 2 + (s["params"] - s["linear_params"]) * 4   # steady state
    # the tied fp32 LM head cast per forward, plus the fp32 linears held while the load casts them
    assert mixed.casts == 49152 * 576 * 2 + s["linear_params"] * 4
    assert mixed.weights < fp32.weights < mixed.weights + mixed.casts


def test_run_records_the_precision_plan_and_merge_uses_the_fp32_base(tmp_path, tiny_cfg, chat_rows, tiny_base):
    from safetensors.torch import load_file

    from node0_ops.export.merge import merge_adapters
    from node0_ops.train.api import train_role_adapter

    cfg = _cfg(tiny_cfg, precision="bf16", max_steps=2, learning_rate=5e-2)
    res = train_role_adapter(cfg, chat_rows[:8], chat_rows[20:], tmp_path / "adapter",
                             run_meta={"role": "polecat", "state": str(tmp_path / "state")})
    assert res.status == "completed"
    prec = res.metrics["precision"]
    assert prec["layout"] == "cpu_bf16" and prec["weight_dtype"] == "bfloat16" and prec["lora_dtype"] == "float32"
    assert prec["params"]["linear:torch.bfloat16"] > 0 and prec["params"]["lora:torch.float32"] > 0
    meta = json.loads((tmp_path / "adapter" / "gastown_adapter.json").read_text())
    assert meta["precision"]["cpu_bf16_path"] == prec["cpu_bf16_path"] and meta["metrics"]["precision"] == prec
    merged = merge_adapters(tiny_base, [tmp_path / "adapter"], tmp_path / "merged", tokenizer_pre="gpt-2")
    out = load_file(str(merged / "model.safetensors"))
    base = load_file(str(next(tiny_base.glob("*.safetensors"))))
    ad = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    scale = cfg.lora.lora_alpha / cfg.lora.r  # use_rslora is off in tiny_cfg
    key = "model.layers.0.self_attn.q_proj.weight"
    a = ad["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    b = ad["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    assert out[key].dtype == torch.float32 and base[key].dtype == torch.float32
    delta = (b.double() @ a.double() * scale).float()
    assert delta.abs().max() > 0  # the adapter learned something to merge
    assert torch.allclose(out[key], base[key] + delta, atol=1e-6)  # fp32 base from disk, not bf16-rounded
    assert not torch.equal(out[key], (base[key].bfloat16().float() + delta))


def test_small_lora_deltas_are_summed_in_fp32_over_bf16_linears(tiny_cfg):
    cfg = _cfg(tiny_cfg, precision="bf16")
    model, _, _ = A.load_base_model(cfg)
    pm = A.new_adapter(model, cfg.lora, "role")
    q = pm.base_model.model.model.layers[0].self_attn.q_proj
    x = torch.randn(1, 7, q.in_features) * 3
    ac = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731 - one region per forward (cast cache)
    with torch.no_grad():
        with ac():
            y0 = q(x)
        q.lora_B["role"].weight.fill_(1e-5)  # a first-steps-sized update, far below one bf16 ulp of W x
        with ac():
            y1 = q(x)
        with ac():
            delta = q.lora_B["role"](q.lora_A["role"](x)).float() * q.scaling["role"]
    assert y0.dtype == torch.float32  # the bf16 matmul hands back fp32
    assert delta.abs().min() > 0 and (y1 - y0 - delta).abs().max() < 0.05 * delta.abs().max()
    lost = (y0.bfloat16() + delta.bfloat16() == y0.bfloat16()).float().mean()
    assert lost > 0.5  # summed in bf16 (plain autocast) most of this update would round away
