"""80-bin log-mel filter banks of a corpus directory, stored with Lhotse.

``compute_fbank(DATA)`` reads ``manifests/{prefix}_{recordings,supervisions}_{split}.jsonl.gz`` of
every split (the prefix and splits come from :func:`catt.data.corpus.open_corpus`), computes
Lhotse's own ``Fbank`` (no torchaudio needed) into ``DATA/fbank/{split}`` and writes
``manifests/{prefix}_cuts_{split}.jsonl.gz``. A split whose cut manifest exists is skipped. With
``speed_perturb``, the ``train`` split also gets copies of every cut at speeds 0.9 and 1.1.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from pathlib import Path
from typing import List, Union

from catt.data.corpus import Corpus, open_corpus
from catt.errors import CattError
from catt.io import save_manifest
from catt.workers import process_pool

__all__ = ["NUM_MEL_BINS", "SPEED_FACTORS", "SPLITS", "compute_fbank", "fbank_extractor"]

logger = logging.getLogger(__name__)

NUM_MEL_BINS = 80
SPLITS = ("train", "dev", "test")
SPEED_FACTORS = (0.9, 1.1)
"""Speed perturbation of the ``train`` split (with ``speed_perturb``): copies at these speeds."""
_CUTS_PER_JOB = 2000


def fbank_extractor():
    """The feature extractor training and decoding share: Lhotse ``Fbank`` with 80 bins."""
    from lhotse import Fbank, FbankConfig

    return Fbank(FbankConfig(num_mel_bins=NUM_MEL_BINS))


def _splits_to_do(corpus: Corpus) -> List[str]:
    present = corpus.splits("recordings")
    if not present:
        raise CattError(
            f"{corpus.root / 'manifests'} has no {corpus.prefix}_recordings_*.jsonl.gz: "
            "prepare the corpus first"
        )
    for split in present:
        corpus.require("supervisions", split, "the corpus preparation did not finish")
    return [s for s in present if not corpus.manifest("cuts", s).is_file()]


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _extract(cuts, storage: Path, num_jobs: int):
    """Features of ``cuts`` under ``storage`` (one torch thread per process: much faster)."""
    from lhotse import LilcomChunkyWriter

    kwargs = dict(extractor=fbank_extractor(), storage_type=LilcomChunkyWriter)
    if num_jobs == 1:
        return cuts.compute_and_store_features(
            storage_path=storage / "feats", num_jobs=1, progress_bar=False, **kwargs
        )
    context = multiprocessing.get_context("spawn")
    with process_pool(num_jobs, mp_context=context, initializer=_one_thread) as pool:
        return cuts.compute_and_store_features(
            storage_path=storage, num_jobs=num_jobs, executor=pool, progress_bar=False, **kwargs
        )


def _compute_split(corpus: Corpus, split: str, num_jobs: int, speed_perturb: bool) -> None:
    import torch
    from lhotse import CutSet, load_manifest

    recordings = load_manifest(corpus.manifest("recordings", split))
    supervisions = load_manifest(corpus.manifest("supervisions", split))
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    expected = len(recordings)
    if speed_perturb and split == "train":
        cuts = cuts + sum((cuts.perturb_speed(f) for f in SPEED_FACTORS), CutSet())
        expected *= 1 + len(SPEED_FACTORS)
    data_dir = corpus.root
    storage = data_dir / "fbank" / split
    if storage.exists():  # left by an interrupted run
        shutil.rmtree(storage)
    storage.mkdir(parents=True)
    # Spawning workers costs seconds: only worth it for thousands of cuts per job.
    jobs = max(1, min(num_jobs, len(cuts) // _CUTS_PER_JOB))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cuts = _extract(cuts, storage, jobs).to_eager()
    finally:
        torch.set_num_threads(threads)
    if len(cuts) != expected:
        raise CattError(
            f"{split}: features for {len(cuts)} of {expected} cuts; "
            f"some audio of {corpus.manifest('recordings', split)} could not be read"
        )
    save_manifest(cuts, corpus.manifest("cuts", split))


def compute_fbank(
    data_dir: Union[str, Path], *, num_jobs: int, speed_perturb: bool = False
) -> None:
    """Compute 80-bin Fbank features for every split of ``data_dir`` not done yet.

    Args:
        data_dir: a corpus directory with recording and supervision manifests.
        num_jobs: feature extraction processes.
        speed_perturb: add speed-perturbed copies (0.9, 1.1) of the ``train`` cuts.

    Raises:
        CattError: no manifests (the corpus is not prepared), ``num_jobs`` < 1, or audio
            that cannot be read.
    """
    data_dir = Path(data_dir).resolve()  # feature paths in the manifests are absolute
    if num_jobs < 1:
        raise CattError(f"--jobs must be at least 1, got {num_jobs}")
    corpus = open_corpus(data_dir)
    todo = _splits_to_do(corpus)
    if not todo:
        logger.info("%s: features are up to date", data_dir)
    for split in todo:
        logger.info("%s: computing %d-bin Fbank features", split, NUM_MEL_BINS)
        _compute_split(corpus, split, num_jobs, speed_perturb)
