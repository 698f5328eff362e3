"""Shared helpers of the benchmark scripts: machine facts, timing, peak memory, synthetic data.

Every benchmark script writes one JSON file (``--out``); ``write_doc.py`` turns them into
``docs/benchmarks.md``. Peak memory is measured in a fresh child process per case, as the growth
of ``ru_maxrss`` over a baseline taken after the inputs are built.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Sequence, Union

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from catt.io import atomic_write_text  # noqa: E402

if TYPE_CHECKING:
    import torch

__all__ = [
    "REPO",
    "base_parser",
    "machine_info",
    "median",
    "time_runs",
    "time_with_peak",
    "peak_rss_mb",
    "run_child",
    "write_result",
    "relative_path",
    "make_words",
    "make_names",
    "make_sentences",
    "make_tokenizer",
    "random_features",
]

_CONSONANTS = "bcdfghjklmnprstvwxz"
_VOWELS = "aeiouy"


def base_parser(description: str, *, default_threads: int = 1) -> argparse.ArgumentParser:
    """Options every benchmark takes: ``--quick``, ``--out``, ``--runs``, ``--threads``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs")
    p.add_argument("--out", type=Path, required=True, help="results JSON file")
    p.add_argument("--runs", type=int, default=None, help="timed runs per case (median)")
    p.add_argument("--threads", type=int, default=default_threads, help="torch threads")
    return p


def machine_info() -> Dict[str, Any]:
    """nproc, CPU model, memory, Python/torch/k2 versions of this machine."""
    from importlib.metadata import version

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for package in ("torch", "k2"):
        try:
            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported as None
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "torch": versions["torch"],
        "k2": versions["k2"],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def time_runs(fn: Callable[[], Any], runs: int, *, warmup: int = 1) -> List[float]:
    """Wall seconds of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return times


def time_with_peak(fn: Callable[[], Any], runs: int) -> Dict[str, Any]:
    """``{"seconds": median, "runs": times, "peak_mb"}`` of ``runs`` calls of ``fn`` (the first
    included); ``peak_mb``: the growth of the process's peak memory during the first call."""
    baseline = peak_rss_mb()
    first = time_runs(fn, 1, warmup=0)[0]
    peak = peak_rss_mb() - baseline
    times = [first, *time_runs(fn, runs - 1, warmup=0)]
    return {"seconds": median(times), "runs": times, "peak_mb": peak}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(script: Path, args: Sequence[str], *, timeout: float = 1800) -> Dict[str, Any]:
    """Run ``python script args`` in a fresh process; its last stdout line is a JSON object."""
    cmd = [sys.executable, str(script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed nothing")
    return json.loads(lines[-1])


def write_result(path: Path, name: str, quick: bool, **fields: Any) -> None:
    """Write ``{"benchmark", "quick", "machine", **fields}`` to ``path`` (atomically)."""
    command = " ".join(["python", relative_path(sys.argv[0]), *sys.argv[1:]])
    record = {"benchmark": name, "quick": quick, "command": command, "machine": machine_info()}
    record.update(fields)
    atomic_write_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"{name}: wrote {path}", file=sys.stderr)


def relative_path(path: Union[str, Path]) -> str:
    """``path`` relative to the repository when it is inside it, else as given (``exp/`` and
    ``data/`` may be symbolic links to another disk: the link's path counts)."""
    for candidate in (Path(path).absolute(), Path(path).resolve()):
        try:
            return str(candidate.relative_to(REPO))
        except ValueError:
            continue
    return str(path)


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))


def make_words(n: int, *, seed: int) -> List[str]:
    """``n`` distinct invented words of 2 or 3 syllables (``"kobari"``)."""
    rng = random.Random(seed)
    out: Dict[str, None] = {}
    while len(out) < n:
        out.setdefault(_word(rng, rng.choice((2, 3))), None)
    return list(out)


def make_names(n: int, *, seed: int) -> List[str]:
    """``n`` distinct two-word invented names (``"kobari tesuma"``), like a contact list."""
    rng = random.Random(seed)
    out: Dict[str, None] = {}
    while len(out) < n:
        out.setdefault(f"{_word(rng, rng.choice((2, 3)))} {_word(rng, rng.choice((2, 3, 4)))}")
    return list(out)


def make_sentences(n: int, *, seed: int) -> List[str]:
    """``n`` tagged commands over invented names, to train a benchmark tokenizer."""
    rng = random.Random(seed)
    names = make_names(max(50, n // 4), seed=seed + 1)
    words = make_words(400, seed=seed + 2)
    out = []
    for _ in range(n):
        name = rng.choice(names)
        filler = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.5:
            out.append(f"<intent:call_contact> call <contact> {name} </contact> {filler}")
        else:
            out.append(f"<intent:turn_on> turn on the <device> {name} </device> {filler}")
    return out


def make_tokenizer(folder: Path, vocab_size: int, *, seed: int = 0) -> Any:
    """A BPE tokenizer of about ``vocab_size`` tokens trained on invented tagged commands."""
    from catt.text.tokenizer import train_tokenizer

    return train_tokenizer(make_sentences(6000, seed=seed), folder / "bpe.model", vocab_size)


def random_features(num: int, frames: int, *, seed: int, dim: int = 80) -> List[torch.Tensor]:
    """``num`` feature matrices [frames, dim] of log-Mel-like noise (lengths vary by +-10 %)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        t = int(frames * (0.9 + 0.2 * float(torch.rand(1, generator=gen))))
        out.append(torch.randn(t, dim, generator=gen) * 2.0 - 8.0)
    return out
