"""The one place that opens llama.cpp models (eval backend, server engine, terminal agent, export
checks, benchmarks, tests), with parameters chosen from the CPU probe.

Why: on Intel CPUs with AMX (Sapphire Rapids class, ``amx_bf16 amx_tile amx_int8`` in
``/proc/cpuinfo``) llama-cpp-python 0.3.36 repacks quantized weights (Q4_1, q8_0, q4_k_m) into
its AMX "extra" buffer type (log: ``ggml_backend_amx_buffer_set_tensor: amx repack tensor ...``)
and then segfaults on the first decode. Loading with the model parameter ``use_extra_bufts =
False`` (a field of ``llama_model_params``, llama.cpp ``include/llama.h``) avoids the repack and
decodes normally; f16 files are not repacked either way. On CPUs without AMX extra buffer types
stay on (llama.cpp's default).

Override: ``GTFT_LLAMA_EXTRA_BUFTS=1`` forces them on, ``=0`` off (empty/unset = choose from the
CPU). The choice is logged once (``logging``, logger ``node0_ops.models.llama_open``) and every
opened model carries it as ``llm.gtft_settings`` (a :class:`LlamaSettings`) for eval reports and
the server's ``/health``.

Usage::

    from node0_ops.models.llama_open import llama_settings, open_llama
    llama_settings()            # LlamaSettings(use_extra_bufts=False, reason='CPU has AMX ...', cpu='Intel ...')
    llm = open_llama("model.Q4_1.gguf", n_ctx=2048, n_threads=1)
    llm.create_chat_completion(messages=[...])

``llama_cpp.Llama`` has no argument for ``use_extra_bufts``: it builds ``self.model_params`` from
``llama_model_default_params()`` inside ``__init__`` and loads the model right after. The opener
uses a subclass whose ``model_params`` attribute is a property: the moment ``__init__`` assigns
the default params, the setter writes ``use_extra_bufts`` into that struct, so the model loads
with it (no global patching, safe across threads).
"""

import functools
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from node0_ops.models.cpu import CpuFeatures, cpu_features

ENV_VAR = "GTFT_LLAMA_EXTRA_BUFTS"
FIX_HINT = f"set {ENV_VAR}=0 to load llama.cpp models without extra buffer types (no AMX weight repack)"
_ON = {"1", "true", "on", "yes"}
_OFF = {"0", "false", "off", "no"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LlamaSettings:
    """llama.cpp model parameters chosen for this machine.

    Attributes:
        use_extra_bufts: value of ``llama_model_params.use_extra_bufts`` (weight repacking into
            CPU extra buffer types such as AMX).
        reason: why (CPU probe or the environment override), one line.
        cpu: :meth:`CpuFeatures.summary` of the probed CPU.
    """

    use_extra_bufts: bool
    reason: str
    cpu: str

    def to_dict(self) -> dict:
        """``{"use_extra_bufts", "reason", "cpu"}`` (JSON-ready, for report/serve metadata)."""
        return asdict(self)


def has_amx(features: CpuFeatures) -> bool:
    """True when the CPU has Intel AMX tiles (``amx_tile`` with ``amx_int8`` or ``amx_bf16``): the
    CPUs where llama.cpp's AMX buffer type repacks quantized weights."""
    return "amx_tile" in features.flags and bool({"amx_int8", "amx_bf16"} & features.flags)


def choose_settings(features: CpuFeatures, override: str | None = None) -> LlamaSettings:
    """Pick ``use_extra_bufts`` for a CPU (pure; :func:`llama_settings` feeds it this machine).

    Args:
        features: the CPU probe (:func:`node0_ops.models.cpu.parse_cpuinfo`).
        override: value of ``GTFT_LLAMA_EXTRA_BUFTS`` (``1/true/on/yes``, ``0/false/off/no``;
            None or empty = automatic).

    Raises:
        ValueError: an override that is none of those (the message names the variable).
    """
    cpu = features.summary()
    value = (override or "").strip().lower()
    if value in _ON:
        return LlamaSettings(True, f"{ENV_VAR}={override} forces extra buffer types on", cpu)
    if value in _OFF:
        return LlamaSettings(False, f"{ENV_VAR}={override} forces extra buffer types off", cpu)
    if value:
        raise ValueError(f"{ENV_VAR}={override!r}: use 1 (extra buffer types on), 0 (off) or leave it unset (choose from the CPU)")
    if has_amx(features):
        return LlamaSettings(False, "CPU has AMX: llama.cpp's AMX repack of quantized weights crashes on the first "
                                    "decode (llama-cpp-python 0.3.36), so extra buffer types are off", cpu)
    return LlamaSettings(True, "CPU has no AMX: llama.cpp default (extra buffer types on)", cpu)


@functools.cache
def _settings_for(override: str | None) -> LlamaSettings:
    settings = choose_settings(cpu_features(), override)
    log.info("llama.cpp use_extra_bufts=%s (%s; %s)", settings.use_extra_bufts, settings.reason, settings.cpu)
    return settings


def llama_settings() -> LlamaSettings:
    """The settings for this machine and the current ``GTFT_LLAMA_EXTRA_BUFTS`` (logged once per value).

    Raises:
        ValueError: the environment variable has a value other than 0/1 (see :func:`choose_settings`).
    """
    return _settings_for(os.environ.get(ENV_VAR) or None)


@functools.cache
def _llama_class():
    import llama_cpp

    class GtftLlama(llama_cpp.Llama):
        """``llama_cpp.Llama`` whose ``model_params`` get ``use_extra_bufts`` as soon as they exist."""

        _gtft_extra_bufts: bool | None = None

        @property
        def model_params(self):
            return self.__dict__["_gtft_model_params"]

        @model_params.setter
        def model_params(self, params):
            if self._gtft_extra_bufts is not None:
                params.use_extra_bufts = self._gtft_extra_bufts
            self.__dict__["_gtft_model_params"] = params

        def __init__(self, model_path: str, *, use_extra_bufts: bool | None = None, **kw):
            self._gtft_extra_bufts = use_extra_bufts
            super().__init__(model_path, **kw)

    return GtftLlama


def open_llama(model_path, *, n_ctx: int, n_threads: int, lora_path=None, verbose: bool = False,
               settings: LlamaSettings | None = None, **kw):
    """Load a GGUF with llama-cpp-python and this machine's :class:`LlamaSettings`.

    Args:
        model_path: GGUF file.  n_ctx: context window (tokens).  n_threads: decode threads (also
            the batch threads unless ``n_threads_batch`` is in ``kw``).  lora_path: optional GGUF
            LoRA applied at load time.  verbose: llama.cpp's own logging.
        settings: explicit settings (default :func:`llama_settings`), e.g. from a parent process.
        **kw: any other ``llama_cpp.Llama`` argument (``seed``, ``n_batch``, ``logits_all`` ...).

    Returns:
        a ``llama_cpp.Llama`` (subclass) with ``gtft_settings`` = the settings it was loaded with.

    Raises:
        FileNotFoundError: the model or LoRA file is missing.
        ImportError: llama-cpp-python is not installed (``make install`` builds it).
        ValueError: bad ``GTFT_LLAMA_EXTRA_BUFTS``, or llama.cpp could not load the file.
    """
    for p in (model_path, lora_path):
        if p is not None and not Path(p).is_file():
            raise FileNotFoundError(f"GGUF file not found: {p}")
    settings = settings or llama_settings()
    kw.setdefault("n_threads_batch", n_threads)
    llm = _llama_class()(str(model_path), use_extra_bufts=settings.use_extra_bufts, n_ctx=n_ctx, n_threads=n_threads,
                         lora_path=str(lora_path) if lora_path is not None else None, verbose=verbose, **kw)
    llm.gtft_settings = settings
    return llm
