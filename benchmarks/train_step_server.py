"""The child of ``bench_train_pairs.py``: one training step of a case per line read.

    python benchmarks/train_step_server.py TREE CASE THREADS

imports ``catt`` from the source tree TREE (so that two trees can be timed by the same
benchmark code), builds bench_train's CASE, prints ``ready``, then for each line read on stdin
runs one step and prints its seconds. At the end of stdin it prints its peak memory (MiB, the
growth over the model and batch, as bench_train measures it) and exits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> None:
    tree, case, threads = Path(sys.argv[1]).resolve(), sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, str(tree))
    import catt  # the tree's; the benchmark modules below then use it

    if Path(catt.__file__).resolve().parent != tree / "catt":
        raise SystemExit(f"train_step_server: catt came from {catt.__file__}, not {tree}")
    from bench_train import build_case
    from benchlib import peak_rss_mb

    *_, step, _ = build_case(case, threads)
    baseline = peak_rss_mb()
    step()  # the first step allocates what the others reuse
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        step()
        print(time.perf_counter() - start, flush=True)
    print(peak_rss_mb() - baseline, flush=True)


if __name__ == "__main__":
    main()
