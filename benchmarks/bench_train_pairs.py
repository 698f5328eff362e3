"""A training step of two source trees in turn: does a change make the step shorter?

Two bench_train runs minutes apart compare the minutes as much as the code on a machine whose
speed drifts (by a fifth within a session on the AMD machine, docs/training.md). This builds
bench_train's case once with the ``catt`` of each tree (``--before DIR`` and ``--after DIR``:
checkouts, e.g. ``git worktree add /tmp/old COMMIT``), each in its own process
(``train_step_server.py``), and then runs their steps in turn, one step of one, one of the
other, the first of each pair alternating: the machine's drift falls on both. It reports each
tree's median step, its peak memory and the median of the pairs' changes (after against
before). The benchmark code is this tree's for both, so the batch and the step are the same.

    git worktree add /tmp/old e775cc4
    python benchmarks/bench_train_pairs.py --before /tmp/old --after . --cases tiny base \
        --out /tmp/pairs.json
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

from benchlib import base_parser, median, write_result

TREES = ("before", "after")
SERVER = Path(__file__).resolve().parent / "train_step_server.py"


def _start(tree: Path, case: str, threads: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(tree), case, str(threads)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if _line(proc) != "ready":
        raise RuntimeError(f"train_step_server: {tree} {case} did not start")
    return proc


def _line(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline().strip()
    if not line:
        code = proc.wait()
        raise RuntimeError(f"train_step_server stopped (exit code {code})")
    return line


def pairs(trees: Dict[str, Path], case: str, steps: int, threads: int) -> Dict[str, Any]:
    """``steps`` pairs of steps of ``case``, one with each tree's catt, in turn."""
    procs = {name: _start(tree, case, threads) for name, tree in trees.items()}
    times: Dict[str, List[float]] = {name: [] for name in TREES}
    try:
        for i in range(steps):
            for name in TREES if i % 2 == 0 else TREES[::-1]:
                procs[name].stdin.write("\n")
                procs[name].stdin.flush()
                times[name].append(float(_line(procs[name])))
        peaks = {}
        for name, proc in procs.items():
            proc.stdin.close()
            peaks[name] = float(_line(proc))
            proc.wait()
    finally:
        for proc in procs.values():
            proc.kill()
    changes = [a / b - 1.0 for b, a in zip(times["before"], times["after"])]
    return {
        **{f"{name}_step_s": median(times[name]) for name in TREES},
        **{f"{name}_runs": times[name] for name in TREES},
        **{f"{name}_peak_mb": peaks[name] for name in TREES},
        "change": median(changes),
    }


def main() -> None:
    p = base_parser(__doc__.splitlines()[0], default_threads=os.cpu_count() or 1)
    p.add_argument("--before", type=Path, required=True, help="the tree without the change")
    p.add_argument("--after", type=Path, required=True, help="the tree with it")
    p.add_argument("--cases", nargs="+", default=["base"], help="bench_train cases")
    args = p.parse_args()
    steps = args.runs if args.runs is not None else (2 if args.quick else 20)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for name, tree in trees.items():
        if not (tree / "catt" / "__init__.py").is_file():
            p.error(f"--{name} {tree}: not a catt tree (no catt/__init__.py)")
    results = {}
    for case in args.cases:
        print(f"train_pairs: {case}, {steps} pairs of steps", file=sys.stderr, flush=True)
        results[case] = pairs(trees, case, steps, args.threads)
    write_result(
        args.out,
        "train_pairs",
        args.quick,
        threads=args.threads,
        pairs=steps,
        trees={name: str(tree) for name, tree in trees.items()},
        cases=results,
    )


if __name__ == "__main__":
    main()
