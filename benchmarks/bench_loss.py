"""k2 pruned against k2 full RNN-T loss: time and peak memory of forward + backward.

Shapes: B batch, T audio frames after subsampling, U tokens, D model dimension, J joiner
dimension, V vocabulary, S prune range. Both losses include the joint network (the
project's :class:`~catt.model.joiner.Joiner`, D=J=256): the full loss evaluates it on every
(t, u) pair, [B, T, U+1, V]; the pruned loss on S symbols per frame, [B, T, S, V], after the
simple loss has chosen the ranges. A third case, ``simple``, is k2's smoothed "simple" loss
alone (the first half of the pruned loss), to show where the pruned loss's memory goes. Each
case runs in its own process; peak memory is the growth of ``ru_maxrss`` over the baseline with
the inputs built; times are the median of the runs (the first included).

    python benchmarks/bench_loss.py --out benchmarks/results/loss.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict

from benchlib import base_parser, run_child, time_with_peak, write_result

SIZES = {"full": dict(B=32, T=250, U=60, V=500), "quick": dict(B=2, T=20, U=5, V=16)}
D = J = 256
PRUNE_RANGE = 5
# case -> timed runs (the full loss takes ~30 s a run at the full size)
CASES = {"pruned": 5, "simple": 3, "full": 3}


def _case(kind: str, B: int, T: int, U: int, V: int) -> Callable[[], None]:
    """One forward + backward of the ``kind`` loss on fixed random inputs."""
    import torch

    from catt.loss import full_rnnt_loss, make_boundary, pruned_rnnt_loss
    from catt.model.joiner import Joiner

    torch.manual_seed(0)
    h = torch.randn(B, T, D, requires_grad=True)  # audio embeddings [B, T, D]
    g = torch.randn(B, U + 1, D, requires_grad=True)  # label embeddings [B, U+1, D]
    symbols = torch.randint(1, V, (B, U))
    boundary = make_boundary(torch.full((B,), T), torch.full((B,), U))
    joiner = Joiner(d_model=D, joiner_dim=J, vocab_size=V)
    simple_am, simple_lm = torch.nn.Linear(D, V), torch.nn.Linear(D, V)

    def full() -> None:
        logits = joiner(h[:, :, None], g[:, None])  # [B, T, U+1, V]
        full_rnnt_loss(logits, symbols, boundary, blank_id=0).sum().backward()

    def pruned() -> None:
        simple, pruned_loss = pruned_rnnt_loss(
            am_simple=simple_am(h),
            lm_simple=simple_lm(g),
            am=joiner.enc_proj(h),
            lm=joiner.pred_proj(g),
            joint=lambda a, b, columns: joiner(a, b, project_input=False, columns=columns),
            symbols=symbols,
            boundary=boundary,
            blank_id=0,
            prune_range=PRUNE_RANGE,
        )
        (0.5 * simple + pruned_loss).backward()

    def simple_only() -> None:
        import k2

        loss = k2.rnnt_loss_smoothed(
            lm=simple_lm(g),
            am=simple_am(h),
            symbols=symbols,
            termination_symbol=0,
            lm_only_scale=0.25,
            am_only_scale=0.0,
            boundary=boundary,
            reduction="sum",
        )
        loss.backward()

    return {"full": full, "pruned": pruned, "simple": simple_only}[kind]


def child(kind: str, size: str, runs: int, threads: int) -> Dict[str, Any]:
    """Measure one case in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    fn = _case(kind, **SIZES[size])
    return {"loss": kind, **time_with_peak(fn, runs)}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    args = p.parse_args()
    size = "quick" if args.quick else "full"
    if args.case:
        runs = args.runs if args.runs is not None else CASES[args.case]
        print(json.dumps(child(args.case, size, 1 if args.quick else runs, args.threads)))
        return
    results = {}
    for kind, default_runs in CASES.items():
        print(f"loss: {kind} ...", file=sys.stderr, flush=True)
        runs = 1 if args.quick else (args.runs or default_runs)
        child_args = ["--case", kind, "--out", str(args.out), "--runs", str(runs)]
        child_args += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        results[kind] = run_child(Path(__file__), child_args)
    ratio = results["full"]["peak_mb"] / max(results["pruned"]["peak_mb"], 1e-6)
    write_result(
        args.out,
        "loss",
        args.quick,
        shape={**SIZES[size], "D": D, "J": J, "prune_range": PRUNE_RANGE},
        threads=args.threads,
        cases=results,
        memory_ratio=ratio,
        speed_ratio=results["full"]["seconds"] / max(results["pruned"]["seconds"], 1e-9),
        goal={"text": "pruned uses at least 10x less memory than full", "met": ratio >= 10.0},
    )


if __name__ == "__main__":
    main()
