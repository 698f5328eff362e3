"""CPU set-up that must come before torch's first matrix product.

PyTorch's CPU builds of the pinned version (1.13) carry MKL 2020.0, which checks the processor's
vendor, not its instruction set: on an AMD processor it takes a generic code path for matrix
products, about 3.5 times slower than its AVX2 path on the same cores (docs/training.md). MKL up
to 2020.0 reads ``MKL_DEBUG_CPU_TYPE=5`` to take the AVX2 path regardless, and reads it at its
first call, so importing :mod:`catt` sets it (:func:`prefer_avx2_on_amd`) on an AMD processor
with AVX2 unless the variable is set already. On Intel processors nothing changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, MutableMapping

__all__ = ["prefer_avx2_on_amd"]

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
