"""List resolution: time and peak memory of resolving one slot against lists of growing size.

One utterance of T encoder frames (3 s of audio at 40 ms a frame), a hypothesis of about 20
tokens with one contact span, CTC log-probabilities over a BPE-500 vocabulary, and a list of N
invented two-word names: :func:`catt.decode.resolve.resolve_spans` scores the N + 1 sequences
(the search's own and one per phrase) with the CTC loss, in chunks of 256. The time is per slot
resolved, on top of the search; memory is the growth of ``ru_maxrss`` over the baseline with
the inputs built. Each list size runs in its own process.

    python benchmarks/bench_resolve.py --out benchmarks/results/resolve.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict

from benchlib import (
    base_parser,
    make_names,
    make_tokenizer,
    run_child,
    time_with_peak,
    write_result,
)

SIZES = {"full": dict(T=75, V=500, lists=[100, 1000, 10000]), "quick": dict(T=20, V=64, lists=[10])}
RUNS = 5


def _case(phrases: int, T: int, V: int) -> Callable[[], Any]:
    """Resolving one contact span of one hypothesis against ``phrases`` names."""
    import torch

    from catt.decode.resolve import resolve_spans

    with tempfile.TemporaryDirectory() as folder:
        tok = make_tokenizer(Path(folder), V)
    names = make_names(phrases, seed=1)
    ids = [tok.encode_phrase(n) for n in names]
    hyp = tok.encode("<intent:call_contact> please call <contact> kobari </contact> on the mobile")
    tags = {tok.tag_id("<contact>"): tok.tag_id("</contact>")}
    torch.manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(T, tok.vocab_size) * 3, dim=-1)

    def run() -> Any:
        return resolve_spans(hyp, log_probs, ids, tags, blank_id=tok.blank_id, bonus=4.0)

    return run


def child(phrases: int, size: str, runs: int, threads: int) -> Dict[str, Any]:
    """Measure one list size in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    shape = SIZES[size]
    fn = _case(phrases, shape["T"], shape["V"])
    return {"phrases": phrases, **time_with_peak(fn, runs)}


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--phrases", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    size = "quick" if args.quick else "full"
    runs = 1 if args.quick else (args.runs or RUNS)
    if args.phrases:
        print(json.dumps(child(args.phrases, size, runs, args.threads)))
        return
    cases = []
    for n in SIZES[size]["lists"]:
        print(f"resolve: {n} phrases ...", file=sys.stderr, flush=True)
        child_args = ["--phrases", str(n), "--out", str(args.out), "--runs", str(runs)]
        child_args += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        cases.append(run_child(Path(__file__), child_args))
    shape = {k: v for k, v in SIZES[size].items() if k != "lists"}
    write_result(args.out, "resolve", args.quick, shape=shape, threads=args.threads, cases=cases)


if __name__ == "__main__":
    main()
