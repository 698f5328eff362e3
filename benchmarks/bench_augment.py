"""Training-batch feature augmentation: the time VTLP and SpecAugment add to each batch.

The batch is a base-recipe training batch: ``data.max_duration`` (80 s) of 2.1 s utterances
(the corpus mean), padded to 2.6 s, 80-bin features. Both transforms run in the data loader, in
the training process (``num_workers=0``), so their time adds to each step's; the base config's
step is about 0.7 s (``bench_train.py``). ``train.vtlp`` warps each utterance's frequency axis
(:class:`catt.data.augment.VocalTractWarp`, one gather per batch); SpecAugment is Lhotse's with
the settings of ``catt train`` (time warp, two frequency and two time masks per utterance).

    python benchmarks/bench_augment.py --out benchmarks/results/augment.json
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict

from benchlib import base_parser, median, time_runs, write_result

SHAPES = {"full": dict(B=38, T=260, F=80), "quick": dict(B=4, T=50, F=80)}
RUNS = 20


def transforms(vtlp: float) -> Dict[str, Callable[..., Any]]:
    """The transforms measured, by name, as ``catt train`` builds them."""
    from catt.data.augment import training_transform

    cases = {"vtlp": (vtlp, False), "spec_augment": (0.0, True), "vtlp+spec_augment": (vtlp, True)}
    return {
        name: training_transform(vtlp=v, spec_augment_on=spec) for name, (v, spec) in cases.items()
    }


def main() -> None:
    import torch

    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--vtlp", type=float, default=0.1, help="train.vtlp (maximum warp)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = SHAPES["quick" if args.quick else "full"]
    runs = 2 if args.quick else (args.runs or RUNS)
    features = torch.randn(shape["B"], shape["T"], shape["F"])
    segments = torch.tensor([[b, 0, shape["T"]] for b in range(shape["B"])], dtype=torch.int32)
    cases = {}
    for name, transform in transforms(args.vtlp).items():
        run = functools.partial(transform, features, supervision_segments=segments)
        times = time_runs(run, runs)
        cases[name] = {"seconds": median(times), "runs": times}
    write_result(
        args.out,
        "augment",
        args.quick,
        shape=shape,
        vtlp=args.vtlp,
        threads=args.threads,
        cases=cases,
    )


if __name__ == "__main__":
    main()
