"""Audio input for inference: any WAV (or other soundfile format) to 16 kHz mono, and Fbank.

>>> import numpy as np, soundfile, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
>>> soundfile.write(path, np.zeros((4410, 2), dtype="float32"), 44100)
>>> load_audio(path).shape
torch.Size([1600])
>>> compute_features(load_audio(path)).shape
torch.Size([10, 80])
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from catt.errors import AudioError

__all__ = ["SAMPLE_RATE", "NUM_MEL_BINS", "load_audio", "resample", "compute_features"]

SAMPLE_RATE = 16000
NUM_MEL_BINS = 80


def load_audio(path: Union[str, Path]) -> torch.Tensor:
    """Read an audio file as 16 kHz mono float32 samples in [-1, 1]: [num_samples].

    Stereo (any number of channels) is averaged; any sampling rate is resampled.

    Raises:
        AudioError: the file is missing, empty, not audio, or has no samples.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile errors (RuntimeError and subclasses), and a few others
        raise AudioError(f"{path}: cannot decode audio ({_first_line(e)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples")
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: audio has NaN or infinite samples")
    return torch.from_numpy(np.ascontiguousarray(resample(samples, rate, SAMPLE_RATE)))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of 1-D float32 ``samples`` from ``rate`` to ``target`` Hz."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(samples, target // g, int(rate) // g).astype(np.float32)


@lru_cache(maxsize=1)
def _fbank() -> Any:
    from lhotse.features import Fbank, FbankConfig

    return Fbank(FbankConfig(num_mel_bins=NUM_MEL_BINS))


def compute_features(samples: Union[torch.Tensor, np.ndarray]) -> torch.Tensor:
    """80-bin log-mel filter banks of 16 kHz samples, as in training (Lhotse ``Fbank``): [T, 80].

    Args:
        samples: [num_samples] at 16 kHz.
    """
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    feats = _fbank().extract(samples, sampling_rate=SAMPLE_RATE)
    return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))
