"""Helpers for the export tests: tiny random models, random-B LoRA adapters, greedy decoding on
both runtimes (transformers and llama-cpp-python) from the same token ids."""

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np

TINY_DIMS = dict(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                 rms_norm_eps=1e-5, initializer_range=0.2)
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# ggml's worker threads spin while waiting: on the shared 2-core box 2 threads ran 16 greedy steps in
# 14-21 s against 1.5 s with one thread (load average ~10), so the tests decode single-threaded.
LLAMA_THREADS = 1


def llama_cpp_or_skip():
    """Import llama_cpp or skip the test with the reason (it is built by `make install`)."""
    import pytest

    try:
        import llama_cpp
    except ImportError as exc:  # only when llama-cpp-python is not built yet
        pytest.skip(f"llama-cpp-python not importable ({exc}); `make install` builds it")
    return llama_cpp


def make_tiny(folder: Path, tokenizer_src: Path, arch: str = "llama", tie: bool = True, seed: int = 0,
              **overrides) -> Path:
    """Save a tiny random llama/qwen2 causal LM (fp32) with the SmolLM2 tokenizer files."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    if arch == "llama":
        config = LlamaConfig(**{**TINY_DIMS, **overrides}, tie_word_embeddings=tie, rope_theta=10000.0,
                             bos_token_id=1, eos_token_id=2, pad_token_id=2)
        model = LlamaForCausalLM(config)
    else:
        config = Qwen2Config(**{**TINY_DIMS, **overrides}, tie_word_embeddings=tie, rope_theta=1000000.0,
                             bos_token_id=1, eos_token_id=2, pad_token_id=2)
        model = Qwen2ForCausalLM(config)
        with torch.no_grad():  # qwen2 has q/k/v biases: make them matter
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_(0, 0.5)
    with torch.no_grad():  # non-trivial norms so a wrong mapping shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    model.save_pretrained(str(folder))
    for name in TOKENIZER_FILES:
        if (tokenizer_src / name).exists():
            shutil.copy(tokenizer_src / name, folder / name)
    return folder


def make_adapter(base_dir: Path, out: Path, *, r: int = 8, alpha: float = 16, targets=ALL_LINEAR, b_std: float = 0.05,
                 seed: int = 1, meta: dict | None = None, **lora_kwargs) -> Path:
    """Save a PEFT LoRA on ``base_dir`` with random (nonzero) B so the adapter changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets),
                                                  lora_dropout=0.0, task_type="CAUSAL_LM", **lora_kwargs))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, b_std)
    peft_model.save_pretrained(str(out))
    if meta is not None:
        (out / "gastown_adapter.json").write_text(json.dumps(meta))
    return out


def hf_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def hf_greedy(model, ids: list[int], n: int, eos: int | None) -> list[int]:
    """Greedy continuation by argmax of full-sequence logits (no generation config involved)."""
    import torch

    out, seq = [], list(ids)
    with torch.no_grad():
        past = None
        inp = torch.tensor([seq])
        for _ in range(n):
            res = model(inp, past_key_values=past, use_cache=True)
            past = res.past_key_values
            tok = int(res.logits[0, -1].argmax())
            out.append(tok)
            if tok == eos:
                break
            inp = torch.tensor([[tok]])
    return out


@contextlib.contextmanager
def llama(path: Path, loras: list[Path] = (), scales: list[float] | None = None, n_ctx: int = 512):
    """A llama-cpp-python model with ``loras`` attached via llama_adapter_lora_init / llama_set_adapters_lora."""
    import ctypes

    llama_cpp = llama_cpp_or_skip()
    from node0_ops.models.llama_open import open_llama

    llm = open_llama(path, n_ctx=n_ctx, n_threads=LLAMA_THREADS, logits_all=True, verbose=False, seed=0)
    adapters = []
    try:
        if loras:
            for lp in loras:
                ad = llama_cpp.llama_adapter_lora_init(llm._model.model, str(lp).encode())
                assert ad, f"llama.cpp refused LoRA {lp}"
                adapters.append(ad)
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * len(adapters))(*adapters)
            sc = (ctypes.c_float * len(adapters))(*(scales or [1.0] * len(adapters)))
            assert llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, arr, len(adapters), sc) == 0
        yield llm
    finally:
        if adapters:
            llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, None, 0, None)
            for ad in adapters:
                llama_cpp.llama_adapter_lora_free(ad)
        llm.close()


def llama_logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def llama_greedy(llm, ids: list[int], n: int, eos: int | None) -> list[int]:
    """Greedy continuation by argmax of llama.cpp logits (no sampler involved)."""
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        if tok == eos:
            break
        llm.eval([tok])
    return out


def prefix_match(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
