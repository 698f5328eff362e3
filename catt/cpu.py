"""CPU set-up that must come before torch's first matrix product.

PyTorch's CPU builds of the pinned version (1.13) carry MKL 2020.0, which checks the processor's
vendor, not its instruction set: on an AMD processor it takes a generic code path for matrix
products, about 3.5 times slower than its AVX2 path on the same cores (docs/training.md). MKL up
to 2020.0 reads ``MKL_DEBUG_CPU_TYPE=5`` to take the AVX2 path regardless, and reads it at its
first call, so importing :mod:`catt` sets it (:func:`prefer_avx2_on_amd`) on an AMD processor
with AVX2 unless the variable is set already. On Intel processors nothing changes.

glibc's malloc hands a block of 32 MB or more (a dynamic threshold, from 128 kB) straight to
the system (``mmap``) and gives it back when freed, so the next tensor of that size starts as
fresh pages: the system zeroes them and takes a page fault for each 4 kB the first time it is
written. A base training step allocates and frees about 400 MB that way (the pruned joint's
[B, T, S, V] tensors, k2's [B, U, T, V] gradient): 100,000 page faults, 0.25 s of system time
and about a tenth of the step's wall time on 2 cores (docs/training.md).
:func:`keep_freed_memory`, which ``catt``'s commands call first, makes malloc keep what is freed
for the next allocations instead; the peak memory is the same.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Dict, Mapping, MutableMapping

__all__ = ["prefer_avx2_on_amd", "keep_freed_memory"]

MKL_CPU_TYPE = "MKL_DEBUG_CPU_TYPE"
AVX2 = "5"
"""The value of ``MKL_DEBUG_CPU_TYPE`` that selects MKL's AVX2 code path."""


def prefer_avx2_on_amd(
    environ: MutableMapping[str, str] = os.environ, cpuinfo: Path = Path("/proc/cpuinfo")
) -> bool:
    """Set ``MKL_DEBUG_CPU_TYPE=5`` in ``environ`` when ``cpuinfo`` names an AMD processor
    with AVX2 and the variable is unset; True when it set it. A missing or unreadable
    ``cpuinfo`` (not Linux) changes nothing."""
    if MKL_CPU_TYPE in environ:
        return False
    fields: Dict[str, str] = {}
    try:
        with cpuinfo.open(errors="replace") as lines:
            for line in lines:  # the first processor's block is enough: read no further
                key, sep, value = line.partition(":")
                if not sep and fields:
                    break
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        return False
    if fields.get("vendor_id") != "AuthenticAMD" or "avx2" not in fields.get("flags", "").split():
        return False
    environ[MKL_CPU_TYPE] = AVX2
    return True


M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
"""glibc's ``mallopt`` parameters (malloc.h)."""
MALLOC_ENV = (
    "MALLOC_MMAP_MAX_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "LD_PRELOAD",
)
"""Variables by which a user tunes or replaces malloc: when one is set, it is left alone."""


def keep_freed_memory(environ: Mapping[str, str] = os.environ, libc: str = "libc.so.6") -> bool:
    """Make glibc's malloc keep freed memory for the next allocations: no ``mmap`` for large
    blocks, no trimming of the heap. True when it did; False without glibc (another C
    library, another system) or when ``environ`` tunes or replaces malloc already."""
    if any(name in environ for name in MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(libc).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
