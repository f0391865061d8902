"""Configuration of the inference engine and its HTTP server.

Usage::

    cfg = ServeConfig(n_ctx=2048, port=0, api_key="s3cret")
"""

import os
from dataclasses import asdict, dataclass

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServeConfig:
    """Engine and server settings.

    Attributes:
        n_ctx: context window in tokens (prompt + completion); prompts that do not fit get HTTP 400.
        n_threads: llama.cpp threads (default: half the logical cores, llama-cpp-python's own default;
            1 on the 2-core machine, where 2 threads decode 4x slower as soon as anything else runs).
        n_batch: prompt-processing batch size in tokens.
        seed: sampler seed used when a request gives none (greedy ``temperature=0`` ignores it).
        default_max_tokens: completion length when a request gives no ``max_tokens``.
        host / port: bind address; ``port=0`` picks a free port. Loopback unless set otherwise.
        api_key: when set, every ``/v1/*`` request needs ``Authorization: Bearer <api_key>``.
        max_queue: requests waiting for the model beyond which the server answers 503.
    """

    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512
    seed: int = 0
    default_max_tokens: int = 256
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_queue: int = 64

    def __post_init__(self):
        if not isinstance(self.n_ctx, int) or self.n_ctx < 64:
            raise ValueError(f"n_ctx={self.n_ctx!r}: use an int >= 64 tokens (e.g. 2048; SmolLM2 was trained on 8192)")
        if self.n_threads is None:
            self.n_threads = max(1, (os.cpu_count() or 1) // 2)
        if not isinstance(self.n_threads, int) or self.n_threads < 1:
            raise ValueError(f"n_threads={self.n_threads!r}: use a positive int or None for half the cores")
        if not isinstance(self.n_batch, int) or self.n_batch < 1:
            raise ValueError(f"n_batch={self.n_batch!r}: use a positive int (tokens per prompt batch, e.g. 512)")
        if not isinstance(self.default_max_tokens, int) or self.default_max_tokens < 1:
            raise ValueError(f"default_max_tokens={self.default_max_tokens!r}: use a positive int (it is capped by "
                             "the room the prompt leaves in n_ctx)")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port={self.port!r}: use 0 (a free port) or 1..65535")
        if self.api_key is not None and (not isinstance(self.api_key, str) or len(self.api_key) < 8):
            raise ValueError("api_key: use a string of at least 8 characters, or None to disable auth")
        if not isinstance(self.max_queue, int) or self.max_queue < 1:
            raise ValueError(f"max_queue={self.max_queue!r}: use a positive int")

    @property
    def loopback(self) -> bool:
        """True when the server only listens on this machine."""
        return self.host in LOOPBACK

    def to_dict(self) -> dict:
        """Settings with the API key masked."""
        d = asdict(self)
        d["api_key"] = "***" if self.api_key else None
        return d
