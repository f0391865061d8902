"""Fixtures for training tests: a tiny random llama saved as an HF base folder with the real
SmolLM2 tokenizer (fast), Gas Town-like chat examples and DPO pairs."""

from pathlib import Path

import pytest

from gastown_samples import make_example, make_pair

from node0_ops.train.sft_config import SFTConfig


@pytest.fixture(scope="session")
def smollm_folder() -> Path:
    from node0_ops.models.base import resolve_base

    try:
        return resolve_base("smollm2-135m")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def tokenizer(smollm_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm_folder))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, smollm_folder) -> Path:
    """Random tiny llama (hidden 32, 2 layers) + the SmolLM2 tokenizer, saved as an HF folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny_base")
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(smollm_folder))
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=len(tok), max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@pytest.fixture
def tiny_cfg(tiny_base) -> SFTConfig:
    return SFTConfig(base=str(tiny_base), max_steps=6, max_seq_len=256, gradient_accumulation_steps=2,
                     learning_rate=5e-3, checkpoint_every=0, device="cpu", num_threads=1, warmup_steps=1,
                     check_memory=False)


@pytest.fixture
def chat_rows() -> list[dict]:
    return [make_example(i) for i in range(24)]


@pytest.fixture
def pair_rows() -> list[dict]:
    return [make_pair(i) for i in range(8)]
