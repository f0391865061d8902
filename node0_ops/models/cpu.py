"""CPU feature probe: which fast paths this CPU really has (read once from ``/proc/cpuinfo``).

The machines this project runs on are one kind but not one CPU (AMD EPYC with ``avx512_bf16``
and no AMX, Intel Xeon with ``amx_bf16 amx_tile amx_int8``): code picks its fast path from
this probe, never from an assumption.

Usage::

    from node0_ops.models.cpu import cpu_features
    f = cpu_features()          # CpuFeatures(model_name='AMD EPYC', flags=frozenset({...}))
    f.has_amx_bf16, f.has_avx512_bf16, f.native_bf16, f.summary()

Flag names are the Linux kernel's (``arch/x86/include/asm/cpufeatures.h``).
"""

import functools
import platform
from dataclasses import dataclass

CPUINFO = "/proc/cpuinfo"


@dataclass(frozen=True)
class CpuFeatures:
    """What one CPU offers.

    Attributes:
        model_name: ``model name`` line of /proc/cpuinfo ('' when unknown).
        flags: the ``flags`` line as a set of kernel flag names (empty when unknown).
        machine: ``platform.machine()`` (``x86_64``, ``aarch64`` ...).
    """

    model_name: str
    flags: frozenset
    machine: str = ""

    @property
    def has_amx_bf16(self) -> bool:
        """Intel AMX tiles with bf16 (``amx_bf16`` and ``amx_tile``)."""
        return {"amx_bf16", "amx_tile"} <= self.flags

    @property
    def has_avx512_bf16(self) -> bool:
        """AVX-512 bf16 dot products (``avx512_bf16``)."""
        return "avx512_bf16" in self.flags

    @property
    def native_bf16(self) -> bool:
        """True when bf16 matmuls run natively (AMX bf16 or avx512_bf16), so bf16 beats fp32."""
        return self.has_amx_bf16 or self.has_avx512_bf16

    @property
    def bf16_path(self) -> str:
        """The fastest bf16 path: ``amx_bf16``, ``avx512_bf16`` or ``none``."""
        return "amx_bf16" if self.has_amx_bf16 else "avx512_bf16" if self.has_avx512_bf16 else "none"

    def summary(self) -> str:
        """One line for logs and metadata, e.g. ``AMD EPYC (x86_64; bf16 path avx512_bf16)``."""
        return f"{self.model_name or 'unknown CPU'} ({self.machine or '?'}; bf16 path {self.bf16_path})"


def parse_cpuinfo(text: str, machine: str = "") -> CpuFeatures:
    """Parse /proc/cpuinfo text (x86 ``flags`` or arm ``Features`` line) into :class:`CpuFeatures`."""
    name, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    return CpuFeatures(name, flags, machine)


@functools.cache
def cpu_features() -> CpuFeatures:
    """The probe for this machine (cached); empty flags when /proc/cpuinfo cannot be read."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as fh:
            return parse_cpuinfo(fh.read(), platform.machine())
    except OSError:
        return CpuFeatures("", frozenset(), platform.machine())
