"""GGUF writer and GGUF LoRA on tiny random llama / qwen2 models: llama.cpp logits vs transformers,
metadata round trip, Q/K permutation (with negative controls), LoRA scale folding, merge math."""

import json

import numpy as np
import pytest
import torch

from export_helpers import hf_logits, llama, llama_logits, make_adapter, make_tiny

from node0_ops.export import gguf_writer
from node0_ops.export.adapters import read_adapter
from node0_ops.export.gguf_writer import (permute_qk, read_gguf, read_gguf_kv, unpermute_qk, write_gguf)
from node0_ops.export.lora_gguf import write_lora_gguf
from node0_ops.export.merge import merge_adapters

pytestmark = pytest.mark.native  # loads llama.cpp: runs in a child pytest (tests/native_isolation.py)

IDS = list(range(200, 232))  # same token ids into both runtimes: no tokenizer in the comparison


def _hf(folder, adapters=()):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    if adapters:
        model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name="a0")
        for i, path in enumerate(adapters[1:], 1):
            model.load_adapter(str(path), adapter_name=f"a{i}")
        model.base_model.set_adapter([f"a{i}" for i in range(len(adapters))])
    return model.eval()


def _rel_err(got, ref):
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def test_permute_qk_is_pair_interleave_and_invertible():
    w = np.arange(2 * 8 * 3, dtype=np.float32).reshape(16, 3)  # 2 heads of width 8
    p = permute_qk(w, 2)
    # head 0: HF rows (0..3 | 4..7) become pairs (0,4),(1,5),(2,6),(3,7)
    assert p[:8, 0].tolist() == [0, 12, 3, 15, 6, 18, 9, 21]
    assert np.array_equal(unpermute_qk(p, 2), w)
    with pytest.raises(ValueError, match="heads of even width"):
        permute_qk(np.zeros((6, 2)), 2)


@pytest.mark.parametrize("arch,tied", [("llama", True), ("llama", False), ("qwen2", True), ("qwen2", False)])
def test_gguf_logits_match_transformers(tmp_path, tiny_models, arch, tied):
    folder = tiny_models[(arch, tied)]
    ref = hf_logits(_hf(folder), IDS)
    for outtype, tol in (("f32", 0.01), ("f16", 0.02)):
        path = write_gguf(folder, tmp_path / f"m-{outtype}.gguf", outtype, tokenizer_pre="gpt-2")
        with llama(path) as llm:
            got = llama_logits(llm, IDS)
        assert _rel_err(got, ref) < tol, (arch, tied, outtype, _rel_err(got, ref))
        assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.9


def test_llama_without_qk_permutation_does_not_match(tmp_path, tiny_llama, monkeypatch):
    """Negative control: the Q/K row permutation is what makes llama GGUFs agree."""
    ref = hf_logits(_hf(tiny_llama), IDS)
    spec = gguf_writer.ARCHS["LlamaForCausalLM"]
    monkeypatch.setitem(gguf_writer.ARCHS, "LlamaForCausalLM",
                        gguf_writer.ArchSpec(spec.hf_arch, spec.gguf_arch, permute_qk=False))
    path = write_gguf(tiny_llama, tmp_path / "noperm.gguf", "f32", tokenizer_pre="gpt-2")
    with llama(path) as llm:
        got = llama_logits(llm, IDS)
    assert _rel_err(got, ref) > 0.05


def test_q8_0_tensors_within_half_a_step(tmp_path, tiny_llama):
    import gguf

    path = write_gguf(tiny_llama, tmp_path / "m-q8.gguf", "q8_0", tokenizer_pre="gpt-2")
    reader = gguf.GGUFReader(str(path))
    src = dict(gguf_writer.iter_hf_tensors(tiny_llama))
    tensor = next(t for t in reader.tensors if t.name == "blk.1.ffn_down.weight")
    assert tensor.tensor_type == gguf.GGMLQuantizationType.Q8_0
    ref = src["model.layers.1.mlp.down_proj.weight"]
    deq = gguf.quants.dequantize(np.array(tensor.data), tensor.tensor_type).reshape(ref.shape)
    # Q8_0: one scale d = amax/127 per 32 values, stored as f16 (relative error <= 2^-11), q in [-127, 127]
    step = np.abs(ref.reshape(-1, 32)).max(axis=1, keepdims=True) / 127
    bound = step * (0.5 + 127 * 2.0 ** -11) + 1e-7
    assert np.all(np.abs(deq.reshape(-1, 32) - ref.reshape(-1, 32)) <= bound)
    norms = [t for t in reader.tensors if t.name.endswith("norm.weight")]
    assert norms and all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in norms)
    with llama(path) as llm:
        got = llama_logits(llm, IDS)
    ref_logits = hf_logits(_hf(tiny_llama), IDS)
    assert np.corrcoef(got.ravel(), ref_logits.ravel())[0, 1] > 0.99


def test_metadata_round_trip(tmp_path, tiny_models):
    folder = tiny_models[("qwen2", False)]
    config = json.loads((folder / "config.json").read_text())
    lineage = {"base": "tiny", "run_id": "r-1"}
    path = write_gguf(folder, tmp_path / "q.gguf", "f16", name="tiny-q", tokenizer_pre="qwen2",
                      metadata={"basename": "tiny", "license": "mit", "tags": ["gastown"], "lineage": lineage})
    meta, tensors = read_gguf(path)
    assert meta["general.architecture"] == "qwen2" and meta["general.type"] == "model"
    assert meta["general.name"] == "tiny-q" and meta["general.tags"] == ["gastown"]
    assert json.loads(meta["gastown.lineage"]) == lineage
    assert meta["qwen2.block_count"] == config["num_hidden_layers"]
    assert meta["qwen2.attention.head_count_kv"] == config["num_key_value_heads"]
    assert meta["qwen2.rope.freq_base"] == pytest.approx(config["rope_parameters"]["rope_theta"])
    assert meta["tokenizer.ggml.pre"] == "qwen2" and meta["tokenizer.ggml.model"] == "gpt2"
    assert len(meta["tokenizer.ggml.tokens"]) == config["vocab_size"]
    assert meta["general.file_type"] == 1
    # untied: output.weight present; biases mapped; shapes in numpy order equal HF shapes
    src = dict(gguf_writer.iter_hf_tensors(folder))
    assert tensors["output.weight"][0] == src["lm_head.weight"].shape
    assert tensors["blk.0.attn_q.bias"] == ((config["hidden_size"],), "F32")
    assert tensors["blk.1.ffn_down.weight"] == (src["model.layers.1.mlp.down_proj.weight"].shape, "F16")
    assert len(tensors) == len(src)
    fast = read_gguf_kv(path, {"general.name", "qwen2.block_count", "tokenizer.ggml.tokens", "missing.key"})
    assert fast == {"general.name": "tiny-q", "qwen2.block_count": config["num_hidden_layers"],
                    "tokenizer.ggml.tokens": None}


def test_tokenizer_pre_detection(tiny_llama, smol_base):
    # a tokenizer.json that is plain ByteLevel -> gpt-2; the SmolLM2 base knows it is smollm from its source GGUF
    assert gguf_writer.resolve_tokenizer_pre(tiny_llama) == "gpt-2"
    assert gguf_writer.resolve_tokenizer_pre(smol_base) == "smollm"
    assert gguf_writer.resolve_tokenizer_pre(tiny_llama, "llama-bpe") == "llama-bpe"


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_lora_gguf_matches_peft(tmp_path, tiny_models, arch):
    base = tiny_models[(arch, True)]
    adapter = make_adapter(base, tmp_path / "ad", r=8, alpha=16, b_std=0.3)
    ref_base = hf_logits(_hf(base), IDS)
    ref = hf_logits(_hf(base, [adapter]), IDS)
    assert _rel_err(ref_base, ref) > 0.1  # the adapter visibly changes the model
    base_gguf = write_gguf(base, tmp_path / "base.gguf", "f32", tokenizer_pre="gpt-2")
    lora = write_lora_gguf(adapter, base, tmp_path / "ad.gguf", dtype="f32")
    with llama(base_gguf, [lora]) as llm:
        got = llama_logits(llm, IDS)
    assert _rel_err(got, ref) < 0.01


def test_lora_gguf_layout_and_negative_control(tmp_path, tiny_llama, tiny_adapters, monkeypatch):
    role, _ = tiny_adapters
    path = write_lora_gguf(role, tiny_llama, tmp_path / "role.gguf", dtype="f16")
    meta, tensors = read_gguf(path)
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["general.architecture"] == "llama" and meta["adapter.lora.alpha"] == 16.0
    assert tensors["blk.0.attn_q.weight.lora_a"] == ((8, 64), "F16")   # (r, in)
    assert tensors["blk.0.attn_k.weight.lora_b"] == ((32, 8), "F16")   # (out = 2 kv heads * 16, r)
    assert tensors["blk.1.ffn_down.weight.lora_a"] == ((8, 128), "F16")
    assert len(tensors) == 2 * 2 * 7
    # without the lora_b row permutation llama.cpp adds the delta to the wrong Q/K rows
    ref = hf_logits(_hf(tiny_llama, [role]), IDS)
    base_gguf = write_gguf(tiny_llama, tmp_path / "base.gguf", "f32", tokenizer_pre="gpt-2")
    monkeypatch.setattr("node0_ops.export.lora_gguf.permute_qk", lambda w, n: w)
    bad = write_lora_gguf(role, tiny_llama, tmp_path / "bad.gguf", dtype="f32")
    with llama(base_gguf, [bad]) as llm:
        assert _rel_err(llama_logits(llm, IDS), ref) > 0.02


@pytest.mark.parametrize("kwargs", [dict(use_rslora=True), dict(rank_pattern={"down_proj": 4}, alpha_pattern={"q_proj": 40})])
def test_lora_scale_folding(tmp_path, tiny_llama, kwargs):
    adapter = make_adapter(tiny_llama, tmp_path / "ad", r=8, alpha=16, b_std=0.3, **kwargs)
    info = read_adapter(adapter)
    if "use_rslora" in kwargs:
        assert info.module_scale("model.layers.0.self_attn.q_proj") == pytest.approx(16 / 8 ** 0.5)
    else:
        assert info.module_rank_alpha("model.layers.0.mlp.down_proj") == (4, 16.0)
        assert info.module_scale("model.layers.1.self_attn.q_proj") == pytest.approx(40 / 8)
    ref = hf_logits(_hf(tiny_llama, [adapter]), IDS)
    base_gguf = write_gguf(tiny_llama, tmp_path / "base.gguf", "f32", tokenizer_pre="gpt-2")
    lora = write_lora_gguf(adapter, tiny_llama, tmp_path / "ad.gguf", dtype="f32")
    with llama(base_gguf, [lora]) as llm:
        assert _rel_err(llama_logits(llm, IDS), ref) < 0.01


def test_stacked_loras_match_merged(tmp_path, tiny_llama, tiny_adapters):
    role, task = tiny_adapters
    ref = hf_logits(_hf(tiny_llama, [role, task]), IDS)  # both adapters active in PEFT
    merged = merge_adapters(tiny_llama, [task, role], tmp_path / "merged", tokenizer_pre="gpt-2")
    assert _rel_err(hf_logits(_hf(merged), IDS), ref) < 1e-4
    export_meta = json.loads((merged / "gastown_export.json").read_text())
    assert [a["name"] for a in export_meta["adapters"]] == ["role-polecat", "task-gt-done"]  # role first
    base_gguf = write_gguf(tiny_llama, tmp_path / "base.gguf", "f32", tokenizer_pre="gpt-2")
    loras = [write_lora_gguf(a, tiny_llama, tmp_path / f"{a.name}.gguf", dtype="f32") for a in (role, task)]
    with llama(base_gguf, loras) as llm:
        assert _rel_err(llama_logits(llm, IDS), ref) < 0.01
    merged_gguf = write_gguf(merged, tmp_path / "merged.gguf", "f32")
    with llama(merged_gguf) as llm:
        assert _rel_err(llama_logits(llm, IDS), ref) < 0.01


def test_bad_adapters_are_rejected(tmp_path, tiny_models, tiny_adapters, smol_base):
    role, _ = tiny_adapters
    narrow = make_tiny(tmp_path / "narrow", smol_base, "llama", intermediate_size=96)
    with pytest.raises(ValueError, match="do not fit base"):  # adapter trained on another base shape
        write_lora_gguf(role, narrow, tmp_path / "x.gguf")
    other = tiny_models[("qwen2", True)]
    dora = make_adapter(other, tmp_path / "dora", r=4, use_dora=True)
    with pytest.raises(ValueError, match="use_dora"):
        read_adapter(dora)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors"):
        read_adapter(broken)
    (broken / "adapter_model.safetensors").write_bytes(b"")
    (broken / "gastown_adapter.json").write_text(json.dumps({"kind": "sft"}))
    (broken / "adapter_config.json").write_text(json.dumps({"r": 4, "peft_type": "LORA"}))
    with pytest.raises(ValueError, match="kind='sft'"):
        read_adapter(broken)


def test_unsupported_architecture_and_outtype(tmp_path, tiny_llama):
    with pytest.raises(ValueError, match="K-quants"):
        write_gguf(tiny_llama, tmp_path / "x.gguf", "q4_k_m")
    with pytest.raises(ValueError, match="supports"):
        gguf_writer.arch_spec({"architectures": ["GPT2LMHeadModel"]})
