"""Memory guard with fake free-memory values."""

import json

import pytest

from node0_ops.train.adapters import qlora_support
from node0_ops.train.resources_guard import GB, InsufficientMemory, check_memory, estimate_memory, model_shape
from node0_ops.train.sft_config import SFTConfig

SMOLLM2 = {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
           "head_dim": 64, "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}
QWEN05 = {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
          "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True}


def test_param_count_matches_the_known_models():
    assert model_shape(SMOLLM2)["params"] == pytest.approx(134.5e6, rel=0.01)
    assert model_shape(QWEN05)["params"] == pytest.approx(494e6, rel=0.02)


def test_estimate_is_in_the_measured_range_and_checkpointing_saves_memory():
    cfg = SFTConfig(precision="fp32")
    plain = estimate_memory(cfg, SMOLLM2)
    ckpt = estimate_memory(SFTConfig(precision="fp32", gradient_checkpointing=True), SMOLLM2)
    assert 2.2 * GB < plain.total < 3.4 * GB  # measured peak RSS ~2.7-2.9 GB (environment notes, bench)
    assert 1.4 * GB < ckpt.total < 2.3 * GB  # measured ~1.8 GB
    assert plain.lora == cfg.lora.n_params(576, 1536, 30, 9, 3, 64) * 16
    bf16 = estimate_memory(cfg, SMOLLM2, autocast_bf16=True)
    assert bf16.total - plain.total == bf16.casts == int(model_shape(SMOLLM2)["params"] * 2)  # bench: +0.3 GB


def test_fits_with_plenty_of_memory():
    est = check_memory(SFTConfig(), SMOLLM2, free_bytes=20 * GB)
    assert est.free == 20 * GB and est.total < 18 * GB


def test_refusal_names_a_shorter_max_seq_len_that_fits_and_gradient_checkpointing():
    cfg = SFTConfig(max_seq_len=4096, precision="fp32")
    need = estimate_memory(cfg, SMOLLM2).total
    with pytest.raises(InsufficientMemory) as exc:
        check_memory(cfg, SMOLLM2, free_bytes=int(need * 0.6))
    msg = str(exc.value)
    assert "only" in msg and "GB" in msg and "--gradient-checkpointing" in msg
    seq = int(msg.split("max_seq_len=")[1].split()[0])
    assert 64 <= seq < 4096
    free = int(need * 0.6)
    assert estimate_memory(SFTConfig(max_seq_len=seq), SMOLLM2).total <= free * 0.9  # the advice holds
    assert estimate_memory(SFTConfig(max_seq_len=seq + 64), SMOLLM2).total > free * 0.9  # and is the longest
    # the CPU bf16 layout loads the base in fp32 before casting its linears: its peak counts both copies
    fp32 = estimate_memory(SFTConfig(precision="fp32"), SMOLLM2)
    bf16 = estimate_memory(SFTConfig(precision="bf16"), SMOLLM2, layout="cpu_bf16")
    assert bf16.layout == "cpu_bf16" and bf16.weights < fp32.weights < bf16.weights + bf16.casts
    with pytest.raises(InsufficientMemory, match="max_seq_len="):
        check_memory(SFTConfig(max_seq_len=512, precision="bf16"), SMOLLM2, free_bytes=int(bf16.total / 0.9) - 1000)


def test_refusal_suggests_smaller_base_and_qlora_on_gpu(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN05))
    with pytest.raises(InsufficientMemory, match="smaller base") as exc:
        check_memory(SFTConfig(), tmp_path, device="cuda", free_bytes=int(2.8 * GB))
    assert "--quantization 4bit" in str(exc.value)
    with pytest.raises(InsufficientMemory, match="no setting of this base fits"):
        check_memory(SFTConfig(), SMOLLM2, free_bytes=int(0.5 * GB))


def test_qlora_refused_without_cuda_or_bitsandbytes():
    ok, why = qlora_support("cpu")
    assert not ok and ("CUDA" in why or "bitsandbytes" in why)
    assert "quantization=none" in why


def test_qlora_config_is_refused_at_load_time_on_cpu(tiny_cfg):
    from node0_ops.train.adapters import QLoRAUnsupported, load_base_model

    with pytest.raises(QLoRAUnsupported, match="quantization"):
        load_base_model(tiny_cfg.__class__(**{**tiny_cfg.__dict__, "quantization": "4bit"}))
