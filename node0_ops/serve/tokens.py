"""Token counts with the SmolLM2 tokenizer (``tokenizer.json`` of ``resolve_base()``'s HF folder).

Counted with the ``tokenizers`` package (no transformers import); no special tokens are added.

Usage::

    from node0_ops.serve.tokens import count_tokens
    count_tokens("gt done")   # -> int
"""

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=4)
def _tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


@lru_cache(maxsize=4)
def tokenizer_path(base: str | None = None) -> Path:
    """``tokenizer.json`` of the base model folder (default preset ``smollm2-135m``).

    Cached per ``base``: :func:`~node0_ops.models.base.resolve_base` hashes the whole GGUF (~90 ms),
    too slow for every :func:`count_tokens` call. Failures are not cached.

    Raises:
        FileNotFoundError: the base folder has no ``tokenizer.json`` or the base is not installed.
    """
    from node0_ops.models.base import DEFAULT_BASE, resolve_base

    path = Path(resolve_base(base or DEFAULT_BASE)) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the base model folder has no tokenizer.json")
    return path


def count_tokens(text: str, base: str | None = None) -> int:
    """Number of tokens of ``text`` (SmolLM2 vocabulary, 49152 entries, byte-level BPE)."""
    if not text:
        return 0
    return len(_tokenizer(str(tokenizer_path(base))).encode(text, add_special_tokens=False).ids)
