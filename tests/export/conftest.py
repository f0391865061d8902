"""Fixtures for the export tests: tiny random llama/qwen2 folders (with the SmolLM2 tokenizer)
and random-B LoRA adapters on them. The real SmolLM2 fixtures live in test_export_smollm2.py."""

import pytest

from export_helpers import make_adapter, make_tiny


@pytest.fixture(scope="session")
def smol_base():
    """The fp32 HF folder of SmolLM2-135M-Instruct (converted once, cached)."""
    from node0_ops.models.base import resolve_base

    return resolve_base("smollm2-135m")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, smol_base):
    """``{(arch, tied): folder}`` for llama/qwen2 x tied/untied tiny random models."""
    root = tmp_path_factory.mktemp("tiny")
    return {(arch, tie): make_tiny(root / f"{arch}-{'tied' if tie else 'untied'}", smol_base, arch, tie)
            for arch in ("llama", "qwen2") for tie in (True, False)}


@pytest.fixture(scope="session")
def tiny_llama(tiny_models):
    return tiny_models[("llama", True)]


@pytest.fixture(scope="session")
def tiny_adapters(tmp_path_factory, tiny_llama):
    """A role adapter (all linear, r=8) and a task adapter (q/v/down, r=4) on the tiny llama."""
    root = tmp_path_factory.mktemp("tiny-adapters")
    role = make_adapter(tiny_llama, root / "role", r=8, alpha=16, b_std=0.3, seed=1,
                        meta={"kind": "role", "role": "polecat", "corpus_version": "c-test",
                              "hyperparameters": {"learning_rate": 2e-4, "epochs": 1}})
    task = make_adapter(tiny_llama, root / "task", r=4, alpha=8, targets=["q_proj", "v_proj", "down_proj"],
                        b_std=0.3, seed=2, meta={"kind": "task", "task": "gt-done"})
    return role, task
