"""A training step of two source trees in turn: does a change make the step shorter?

Two bench_train runs minutes apart compare the minutes as much as the code on a machine whose
speed drifts (by a fifth within a session on the AMD machine, docs/training.md). This runs
bench_train's child of each tree in turn (``--before DIR`` and ``--after DIR``: checkouts,
e.g. ``git worktree add /tmp/old COMMIT``), ``--rounds`` times, each a fresh process timing
``--runs`` steps of each case on the same batch, and reports each tree's median step, its
peak memory and the median of the rounds' changes (after against before, in the same round).

    git worktree add /tmp/old e775cc4
    python benchmarks/bench_train_pairs.py --before /tmp/old --after . --cases tiny base \
        --out /tmp/pairs.json
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from benchlib import base_parser, median, write_result

TREES = ("before", "after")


def child_step(tree: Path, case: str, runs: int, threads: int) -> Dict[str, Any]:
    """bench_train's measurement of ``case`` with the code of ``tree``, in a fresh process."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(tree / "benchmarks" / "bench_train.py"), "--case", case]
        cmd += ["--runs", str(runs), "--threads", str(threads), "--out", str(Path(tmp) / "x")]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd)} (in {tree}) failed:\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = base_parser(__doc__.splitlines()[0], default_threads=os.cpu_count() or 1)
    p.add_argument("--before", type=Path, required=True, help="the tree without the change")
    p.add_argument("--after", type=Path, required=True, help="the tree with it")
    p.add_argument("--cases", nargs="+", default=["base"], help="bench_train cases")
    p.add_argument("--rounds", type=int, default=None, help="pairs of processes a case (6)")
    args = p.parse_args()
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 6)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for name, tree in trees.items():
        if not (tree / "benchmarks" / "bench_train.py").is_file():
            p.error(f"--{name} {tree}: not a catt tree (no benchmarks/bench_train.py)")
    results = {}
    for case in args.cases:
        steps: Dict[str, List[float]] = {name: [] for name in TREES}
        peaks: Dict[str, List[float]] = {name: [] for name in TREES}
        changes = []
        for r in range(rounds):
            print(f"train_pairs: {case}, round {r + 1} of {rounds}", file=sys.stderr, flush=True)
            medians = {}
            for name in TREES:
                result = child_step(trees[name], case, runs, args.threads)
                steps[name] += result["runs"]
                peaks[name].append(result["peak_mb"])
                medians[name] = median(result["runs"])
            changes.append(medians["after"] / medians["before"] - 1.0)
        results[case] = {
            **{f"{name}_step_s": median(steps[name]) for name in TREES},
            **{f"{name}_runs": steps[name] for name in TREES},
            **{f"{name}_peak_mb": peaks[name] for name in TREES},
            "round_changes": changes,
            "change": median(changes),
        }
    write_result(
        args.out,
        "train_pairs",
        args.quick,
        threads=args.threads,
        rounds=rounds,
        runs=runs,
        trees={name: str(tree) for name, tree in trees.items()},
        cases=results,
    )


if __name__ == "__main__":
    main()
