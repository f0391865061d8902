"""Configuration of one model export (:func:`node0_ops.export.export.export_model`).

Usage::

    cfg = ExportConfig(name="polecat", quants=("f16", "q4_k_m"))
"""

import re
from dataclasses import dataclass

from node0_ops.export.gguf_writer import DIRECT_OUTTYPES, LLAMA_CPP_QUANTS, LORA_GGUF_DTYPES

QUANTS = tuple(dict.fromkeys(DIRECT_OUTTYPES + tuple(LLAMA_CPP_QUANTS)))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class ExportConfig:
    """What to export.

    Attributes:
        name: model name, used in file names and ``general.name`` (letters, digits, ``._-``).
        quants: merged GGUF types; ``f32``/``f16``/``q8_0`` are written by our converter,
            ``q4_k_m``/``q5_k_m``/``q6_k`` by llama.cpp's quantizer from an f16 file.
        lora_ggufs: also write the base as f16 GGUF plus one GGUF LoRA per adapter (for
            ``llama.cpp --lora`` / Ollama ``ADAPTER``).
        lora_dtype: tensor type of the GGUF LoRAs (``f32``, ``f16``, ``q8_0``).
        system_prompt: Modelfile SYSTEM; default the role card of the role adapter's role.
        tokenizer_pre: llama.cpp pre-tokenizer name override.
        threads: llama.cpp quantizer threads (default: all cores).
        overwrite: replace an existing non-empty output folder.
    """

    name: str
    quants: tuple[str, ...] = ("f16", "q8_0", "q4_k_m")
    lora_ggufs: bool = True
    lora_dtype: str = "f16"
    system_prompt: str | None = None
    tokenizer_pre: str | None = None
    threads: int | None = None
    overwrite: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"name={self.name!r}: use 1-100 letters, digits, '.', '_' or '-' starting with a letter "
                             "or digit (it becomes a file name), e.g. 'polecat-v3'")
        self.quants = tuple(self.quants)
        if not self.quants:
            raise ValueError("quants is empty: pass at least one of " + ", ".join(QUANTS))
        unknown = [q for q in self.quants if q not in QUANTS]
        if unknown:
            raise ValueError(f"quants {unknown} are not supported; choose from {QUANTS}")
        if len(set(self.quants)) != len(self.quants):
            raise ValueError(f"quants {self.quants} lists a type twice; list each once")
        if self.lora_dtype not in LORA_GGUF_DTYPES:
            raise ValueError(f"lora_dtype={self.lora_dtype!r}: choose one of {LORA_GGUF_DTYPES}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads={self.threads}: use a positive count or None for all cores")
