"""Training-batch loading: the time ``catt train``'s data loader takes to build one batch.

The loader runs in the training process (``num_workers=0``, so that a resumed run gets the same
next batch), so its time adds to each step's (about 0.65 s for the base config,
``bench_train.py``). The corpus is synthetic and shaped like the base smart-home corpus: 690
households of 74 phrases (contacts and devices: a distractor pool of about 51,000 phrases);
6,000 utterances of 1.5 to 3 s in a lazily read manifest, whose tagged transcripts name a phrase
of their household; 80-bin features stored as ``catt compute-fbank`` stores them (Lhotse's
lilcom chunky files). The dataset, its phrase lists and its transforms are built from the
config as ``catt train`` builds them (base: 80 s batches, up to 50 distractors, the household
list for the list pointer, wrong names 0.2). Three untimed epochs fill the loader's phrase-token
cache, as the first epoch of a run does; the next two are timed. Reported: milliseconds a
batch, of this process's CPU time (what loading takes from the step; a busy machine changes it
less) and of wall time.

    python benchmarks/bench_loader.py --out benchmarks/results/loader.json
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from benchlib import REPO, base_parser, make_names, make_sentences, write_result

CONF = REPO / "recipes" / "smarthome" / "conf" / "base.yaml"
SIZES = {
    "full": dict(households=690, phrases=74, utterances=6000),
    "quick": dict(households=12, phrases=10, utterances=60),
}
WARM_EPOCHS, TIMED_EPOCHS = 3, 2


def build_cuts(folder: Path, lists: Dict[str, List[str]], n: int, *, seed: int) -> Any:
    """A lazily read manifest of ``n`` cuts with lilcom-stored random features, each saying a
    phrase of its household (the trainer reads its manifest lazily too)."""
    import numpy as np
    from lhotse import (
        CutSet,
        Features,
        LilcomChunkyWriter,
        MonoCut,
        SupervisionSegment,
        load_manifest_lazy,
    )

    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    households = sorted(lists)
    cuts = []
    with LilcomChunkyWriter(folder / "feats") as writer:
        for i in range(n):
            household = households[i % len(households)]
            name = rng.choice(lists[household])
            text = f"call {name} please"
            slot = {"type": "contact", "value": name, "start": 5, "end": 5 + len(name)}
            frames = rng.randint(150, 300)
            feats = (gen.standard_normal((frames, 80)) * 2.0 - 8.0).astype(np.float32)
            key = writer.write(f"cut-{i}", feats)
            duration = frames / 100
            sup = SupervisionSegment(
                f"cut-{i}",
                f"cut-{i}",
                0.0,
                duration,
                text=text,
                language="en",
                custom={"intent": "call_contact", "household": household, "slots": [slot]},
            )
            features = Features(
                type="kaldi-fbank",
                num_frames=frames,
                num_features=80,
                frame_shift=0.01,
                sampling_rate=16000,
                start=0.0,
                duration=duration,
                storage_type=writer.name,
                storage_path=str(writer.storage_path),
                storage_key=key,
                recording_id=f"cut-{i}",
            )
            cuts.append(MonoCut(f"cut-{i}", 0.0, duration, 0, [sup], features))
    CutSet.from_cuts(cuts).to_file(folder / "cuts.jsonl.gz")
    return load_manifest_lazy(folder / "cuts.jsonl.gz")


def main() -> None:
    import torch

    from catt.context.sampling import ContextSampler
    from catt.data.augment import training_transform
    from catt.data.dataset import CattDataset, make_dataloader
    from catt.text.tokenizer import train_tokenizer
    from catt.train import load_train_config

    p = base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    size = SIZES["quick" if args.quick else "full"]
    config = load_train_config(CONF)
    names = make_names(size["households"] * size["phrases"], seed=1)
    lists = {
        f"h{h:03d}": names[h * size["phrases"] : (h + 1) * size["phrases"]]
        for h in range(size["households"])
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cuts = build_cuts(folder, lists, size["utterances"], seed=2)
        texts = make_sentences(3000, seed=0) + [f"call {n} please" for n in names]
        tokenizer = train_tokenizer(texts, folder / "bpe.model", 500)
        train = config.train
        dataset = CattDataset(
            tokenizer,
            context_sampler=ContextSampler(lists, config.context),
            seed=train.seed,
            feature_transform=training_transform(
                vtlp=train.vtlp, spec_augment_on=train.spec_augment
            ),
            wrong_name_prob=config.context.wrong_name_prob,
        )
        loader, sampler = make_dataloader(
            cuts,
            dataset,
            max_duration=config.data.max_duration,
            num_buckets=config.data.num_buckets,
            seed=train.seed,
        )
        batches, cpu, wall = 0, 0.0, 0.0
        for epoch in range(WARM_EPOCHS + TIMED_EPOCHS):
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            timed = epoch >= WARM_EPOCHS
            tic_cpu, tic_wall = time.process_time(), time.perf_counter()
            count = sum(1 for _ in loader)
            if timed:
                batches += count
                cpu += time.process_time() - tic_cpu
                wall += time.perf_counter() - tic_wall
    write_result(
        args.out,
        "loader",
        args.quick,
        config=str(CONF.relative_to(REPO)),
        sizes=size,
        max_duration=config.data.max_duration,
        batches=batches,
        cpu_ms_per_batch=1000 * cpu / batches,
        wall_ms_per_batch=1000 * wall / batches,
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
