"""80-bin log-mel filter banks of a corpus directory, stored with Lhotse.

``compute_fbank(DATA)`` reads ``manifests/smarthome_{recordings,supervisions}_{split}.jsonl.gz``,
computes Lhotse's own ``Fbank`` (no torchaudio needed) into ``DATA/fbank/{split}`` and writes
``manifests/smarthome_cuts_{split}.jsonl.gz``. A split whose cut manifest exists is skipped.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Union

from catt.errors import CattError
from catt.io import save_manifest

__all__ = ["NUM_MEL_BINS", "SPLITS", "compute_fbank", "fbank_extractor"]

logger = logging.getLogger(__name__)

NUM_MEL_BINS = 80
SPLITS = ("train", "dev", "test")
_CUTS_PER_JOB = 2000


def fbank_extractor():
    """The feature extractor training and decoding share: Lhotse ``Fbank`` with 80 bins."""
    from lhotse import Fbank, FbankConfig

    return Fbank(FbankConfig(num_mel_bins=NUM_MEL_BINS))


def _manifests(data_dir: Path, kind: str, split: str) -> Path:
    return data_dir / "manifests" / f"smarthome_{kind}_{split}.jsonl.gz"


def _splits_to_do(data_dir: Path) -> List[str]:
    present = [s for s in SPLITS if _manifests(data_dir, "recordings", s).is_file()]
    if not present:
        raise CattError(
            f"{data_dir / 'manifests'} has no smarthome_recordings_*.jsonl.gz: "
            "prepare the corpus first (catt prepare smarthome)"
        )
    for split in present:
        if not _manifests(data_dir, "supervisions", split).is_file():
            raise CattError(f"{_manifests(data_dir, 'supervisions', split)} is missing")
    return [s for s in present if not _manifests(data_dir, "cuts", s).is_file()]


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
    with ProcessPoolExecutor(num_jobs, mp_context=context, initializer=_one_thread) as pool:
        return cuts.compute_and_store_features(
            storage_path=storage, num_jobs=num_jobs, executor=pool, progress_bar=False, **kwargs
        )


def _compute_split(data_dir: Path, split: str, num_jobs: int) -> None:
    import torch
    from lhotse import CutSet, load_manifest

    recordings = load_manifest(_manifests(data_dir, "recordings", split))
    supervisions = load_manifest(_manifests(data_dir, "supervisions", split))
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
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
    if len(cuts) != len(recordings):
        raise CattError(
            f"{split}: features for {len(cuts)} of {len(recordings)} recordings; "
            f"some audio under {data_dir / 'wav' / split} could not be read"
        )
    save_manifest(cuts, _manifests(data_dir, "cuts", split))


def compute_fbank(data_dir: Union[str, Path], *, num_jobs: int) -> None:
    """Compute 80-bin Fbank features for every split of ``data_dir`` not done yet.

    Args:
        data_dir: a corpus directory with recording and supervision manifests.
        num_jobs: feature extraction processes.

    Raises:
        CattError: no manifests (the corpus is not prepared), ``num_jobs`` < 1, or audio
            that cannot be read.
    """
    data_dir = Path(data_dir).resolve()  # feature paths in the manifests are absolute
    if num_jobs < 1:
        raise CattError(f"--jobs must be at least 1, got {num_jobs}")
    todo = _splits_to_do(data_dir)
    if not todo:
        logger.info("%s: features are up to date", data_dir)
    for split in todo:
        logger.info("%s: computing %d-bin Fbank features", split, NUM_MEL_BINS)
        _compute_split(data_dir, split, num_jobs)
