"""Fixtures for training tests: a tiny random llama saved as an HF base folder with the real
SmolLM2 tokenizer (fast), Gas Town-like chat examples and DPO pairs."""

import json
import random
from pathlib import Path

import pytest

from node0_ops.train.sft_config import SFTConfig

ROLES_CMDS = [
    ("polecat", "Claim gt-{n} and start work.", "Claiming the bead on my hook.", "bd update gt-{n} --claim"),
    ("polecat", "Tests pass for gt-{n}; finish up.", "Submitting through the merge queue.", "gt done"),
    ("witness", "Polecat furiosa has been idle 20 minutes on gt-{n}.", "Nudging furiosa first.",
     "gt nudge gastown/polecats/furiosa \"status on gt-{n}?\""),
    ("refinery", "MR for gt-{n} is ready in the queue.", "Rebasing onto main and running the gates.",
     "git rebase origin/main && go test ./..."),
    ("mayor", "File a bead to fix the flaky test in rig gastown (gt-{n}).", "Filing it and slinging to a polecat.",
     "bd create \"fix flaky test\" -p 2 && gt sling gt-{n} gastown"),
]


def make_example(i: int, role: str | None = None) -> dict:
    rows = [r for r in ROLES_CMDS if role in (None, r[0])]
    r, user, text, cmd = rows[i % len(rows)]
    n = 100 + i
    msgs = [
        {"role": "system", "content": f"You are the Gas Town {r}. Work through gt and bd; never pkill."},
        {"role": "user", "content": user.format(n=n)},
        {"role": "assistant", "content": text, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "bash",
                                                              "arguments": json.dumps({"command": cmd.format(n=n)})}}]},
        {"role": "tool", "tool_call_id": f"c{i}", "content": f"ok (gt-{n})"},
        {"role": "assistant", "content": f"Done with gt-{n}." + " Checked." * (i % 4)},
    ]
    return {"example_id": f"ex{i}", "role": r, "task": "bead-management", "messages": msgs}


def make_pair(i: int) -> dict:
    n = 200 + i
    return {"pair_id": f"p{i}", "prompt": [{"role": "system", "content": "You are the Gas Town witness."},
                                           {"role": "user", "content": f"Polecat on gt-{n} is stuck."}],
            "chosen": f"gt nudge gastown/polecats/nux \"status on gt-{n}?\"",
            "rejected": f"pkill -f polecat-{n}"}


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


def shuffled(rows: list, seed: int = 0) -> list:
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out
