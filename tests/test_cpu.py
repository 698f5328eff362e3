"""MKL's AVX2 code path on AMD processors (catt.cpu)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from catt.cpu import MKL_CPU_TYPE, keep_freed_memory, prefer_avx2_on_amd


def _cpuinfo(tmp_path: Path, vendor: str, flags: str) -> Path:
    block = f"processor\t: {{n}}\nvendor_id\t: {vendor}\nflags\t\t: fpu sse2 {flags}\n\n"
    path = tmp_path / "cpuinfo"
    # the second processor's block says otherwise: only the first is read
    path.write_text(block.format(n=0) + block.replace(vendor, "GenuineIntel").format(n=1))
    return path


@pytest.mark.parametrize(
    ("vendor", "flags", "set_"),
    [
        ("AuthenticAMD", "avx avx2 fma", True),
        ("AuthenticAMD", "avx", False),  # no AVX2 path to take
        ("GenuineIntel", "avx avx2 fma", False),  # MKL picks its best path itself
    ],
)
def test_the_avx2_path_is_set_on_amd_with_avx2_only(tmp_path, vendor, flags, set_) -> None:
    environ: Dict[str, str] = {}
    assert prefer_avx2_on_amd(environ, _cpuinfo(tmp_path, vendor, flags)) is set_
    assert environ == ({MKL_CPU_TYPE: "5"} if set_ else {})


def test_a_value_the_user_set_or_no_cpuinfo_changes_nothing(tmp_path) -> None:
    environ = {MKL_CPU_TYPE: "2"}
    assert not prefer_avx2_on_amd(environ, _cpuinfo(tmp_path, "AuthenticAMD", "avx2"))
    assert environ == {MKL_CPU_TYPE: "2"}
    assert not prefer_avx2_on_amd({}, tmp_path / "missing")


def test_importing_catt_sets_it_as_the_function_says_for_this_machine() -> None:
    env = {k: v for k, v in os.environ.items() if k != MKL_CPU_TYPE}
    probe = f"import os, catt; print(os.environ.get({MKL_CPU_TYPE!r}))"
    ran = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == ("5" if prefer_avx2_on_amd({}) else "None")


MALLOC_PROBE = """
import ctypes
import numpy as np
from catt.cpu import keep_freed_memory
FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class MallInfo(ctypes.Structure):  # glibc's struct mallinfo
    _fields_ = [(name, ctypes.c_int) for name in FIELDS.split()]
mallinfo = ctypes.CDLL("libc.so.6").mallinfo
mallinfo.restype = MallInfo
kept = {call} and keep_freed_memory()
block = np.ones(25_000_000, dtype=np.float32)  # 100 MB
print(kept, mallinfo().hblkhd)  # bytes in blocks malloc took from the system by mmap
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.parametrize("call", [True, False])
def test_large_blocks_come_from_the_heap_it_keeps(call: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("LD_PRELOAD", None)
    probe = MALLOC_PROBE.format(call=call)
    ran = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    kept, mapped = ran.stdout.split()
    assert kept == str(call)
    # glibc's default maps a 100 MB block by itself (and unmaps it when freed); kept, none is.
    assert (int(mapped) < 50_000_000) is call


def test_freed_memory_is_left_alone_when_malloc_is_tuned_or_absent() -> None:
    assert not keep_freed_memory({"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_MAX_": "0"})
    assert not keep_freed_memory({}, libc="libno-such-c.so")
