"""Decoding throughput against the number of decoding processes (``catt decode --jobs``).

``Decoders``, the processes of ``catt decode`` and ``catt tune``, decode context groups of
utterances with the recipe's best mode (deep biasing with the list pointer scoring phrases,
boosting, beam 4) in one process with every torch thread, then in ``--jobs`` processes that
share the threads. Each group has its own list of invented names. The model is a randomly
initialised ``tiny`` model with the pointer (the smart-home base recipe's architecture, without
the convolution module), its blank offset calibrated as in ``bench_decode.py`` so that it emits
about one token per four encoder frames; the features are synthetic (~2.5 s each). The process
pool's start (spawning, importing torch, loading the model) is part of the timed run, as it is
in ``catt decode``. Each setting reports the median of ``--runs`` runs (3), taken in rounds.

    python benchmarks/bench_decode_jobs.py --threads 2 --out benchmarks/results/decode_jobs.json
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from bench_decode import build_setup, calibrate_blank, prepare_list
from benchlib import base_parser, make_names, median, write_result

BOOST = 2.0
LIST_SIZE = 60  # a household's list plus distractors


class _Utterance:
    """A stand-in for a cut: its features, as ``load_features()`` returns them."""

    def __init__(self, features: torch.Tensor) -> None:
        self.features = features.numpy()

    def load_features(self) -> Any:
        return self.features


def time_jobs(
    model_path: Path, groups: Sequence[Any], jobs: Sequence[int], runs: int
) -> List[Dict[str, Any]]:
    """Median seconds to decode every group with each number of processes (rounds of runs)."""
    from catt.decode.decode_set import Decoders
    from catt.decode.options import DecodingOptions

    options = DecodingOptions(boost=BOOST)
    times: Dict[int, List[float]] = {n: [] for n in jobs}
    for _ in range(runs):
        for n in jobs:
            tic = time.perf_counter()
            with Decoders(model_path, n) as decoders:  # started and stopped in the timed run
                for _ in decoders.decode(groups, options):
                    pass
            times[n].append(time.perf_counter() - tic)
    utts = sum(len(g.cuts) for g in groups)
    base = median(times[jobs[0]])
    return [
        {
            "jobs": n,
            "seconds": median(times[n]),
            "runs": times[n],
            "utterances_per_second": utts / median(times[n]),
            "speed_up": base / median(times[n]),
        }
        for n in jobs
    ]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0], default_threads=2)
    p.add_argument("--groups", type=int, default=None, help="context groups (default 16; quick 2)")
    p.add_argument("--per-group", type=int, default=None, help="utterances each (25; quick 2)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="process counts to time")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    num_groups = args.groups or (2 if args.quick else 16)
    per_group = args.per_group or (2 if args.quick else 25)
    preset, frames = ("micro", 60) if args.quick else ("tiny", 250)
    from catt.context.phrases import Phrase
    from catt.decode.decode_set import Group
    from catt.decode.options import DecodingOptions
    from catt.model import save_model

    with tempfile.TemporaryDirectory() as tmp:
        setup = build_setup(
            Path(tmp), preset=preset, num_utts=num_groups * per_group, frames=frames
        )
        prepared = prepare_list(setup, LIST_SIZE, boost=BOOST)
        model = setup.phrase_pointer_model
        offset, rate = calibrate_blank(
            setup,
            beam=4,
            model=model,
            phrase_emb=prepared.phrase_emb,
            trie=prepared.trie,
            pointer=prepared.pointer,
            pointer_keys=prepared.pointer_keys,
        )
        model_path = save_model(Path(tmp) / "model.pt", model, setup.tokenizer)
        names = make_names(LIST_SIZE * num_groups, seed=11)
        groups = [
            Group(
                cuts=[_Utterance(f) for f in setup.features[g * per_group : (g + 1) * per_group]],
                own=[],
                phrases=[Phrase(n) for n in names[g * LIST_SIZE : (g + 1) * LIST_SIZE]],
            )
            for g in range(num_groups)
        ]
        cases = time_jobs(model_path, groups, args.jobs, runs)
    write_result(
        args.out,
        "decode_jobs",
        args.quick,
        preset=preset,
        threads=args.threads,
        parameters=sum(p.numel() for p in model.parameters()),
        groups=num_groups,
        utterances_per_group=per_group,
        list_size=LIST_SIZE,
        boost=BOOST,
        blank_offset=offset,
        tokens_per_frame=rate,
        audio_seconds=setup.audio_seconds,
        options=dataclasses.asdict(DecodingOptions(boost=BOOST)),
        cases=cases,
    )


if __name__ == "__main__":
    main()
