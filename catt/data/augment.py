"""Feature-space augmentation of training batches that Lhotse does not provide.

:class:`VocalTractWarp` is vocal tract length perturbation (VTLP, Jaitly and Hinton 2013) applied
to log-mel features: each utterance's spectrum is read at frequencies scaled by a random factor
``alpha``, which moves its formants the way a longer or shorter vocal tract would. It imitates
speakers the training set does not have, at the cost of one gather per batch (no audio is
recomputed). :func:`chain` runs several transforms (e.g. this, then Lhotse's ``SpecAugment``).

A transform is called as ``transform(features [B, T, F], supervision_segments=[B, 3])`` and
returns features of the same shape, like Lhotse's.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch

from catt.errors import ConfigError

__all__ = [
    "VocalTractWarp",
    "chain",
    "fbank_filter_bank",
    "mel_centers",
    "spec_augment",
    "training_transform",
    "vtlp_source_freqs",
]


def _mel(freq: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(freq / 700.0)


def _mel_inverse(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * torch.expm1(mel / 1127.0)


def mel_centers(num_bins: int, low_freq: float, high_freq: float) -> torch.Tensor:
    """Centre frequencies (Hz) of ``num_bins`` triangular mel filters between the two edges."""
    low, high = _mel(torch.tensor(low_freq)), _mel(torch.tensor(high_freq))
    step = (high - low) / (num_bins + 1)
    return _mel_inverse(low + step * torch.arange(1, num_bins + 1, dtype=torch.float32))


def fbank_filter_bank() -> Tuple[int, float, float, int]:
    """(mel bins, low edge Hz, high edge Hz, sample rate) of the features catt computes
    (:func:`catt.data.features.fbank_extractor`; a high edge <= 0 counts from Nyquist)."""
    from catt.data.features import fbank_extractor

    config = fbank_extractor().config
    high = config.high_freq if config.high_freq > 0 else config.sampling_rate / 2 + config.high_freq
    return config.num_filters, config.low_freq, high, config.sampling_rate


def vtlp_source_freqs(
    freqs: torch.Tensor, alpha: torch.Tensor, *, nyquist: float, boundary: float
) -> torch.Tensor:
    """The piecewise-linear VTLP map: ``freqs`` [F] scaled by each ``alpha`` [B] -> [B, F].

    Below ``boundary * min(alpha, 1) / alpha`` a frequency is multiplied by ``alpha``; above it
    a second line takes it to the Nyquist frequency, so the band edge stays where it is.
    """
    alpha = alpha[:, None]
    low_part = boundary * torch.clamp(alpha, max=1.0)
    cutoff = low_part / alpha
    high = nyquist - (nyquist - low_part) / (nyquist - cutoff) * (nyquist - freqs)
    return torch.where(freqs <= cutoff, freqs * alpha, high)


class VocalTractWarp:
    """VTLP on log-mel features, one random warp factor per utterance.

    Args:
        max_warp: ``alpha`` is uniform in ``[1 - max_warp, 1 + max_warp]`` (0.1 is usual).
        num_bins, low_freq, high_freq, sample_rate: the filter bank the features came from
            (None: that of :func:`catt.data.features.fbank_extractor`).
        boundary: the frequency (Hz) where the warp changes slope.
    """

    def __init__(
        self,
        max_warp: float,
        *,
        num_bins: Optional[int] = None,
        low_freq: Optional[float] = None,
        high_freq: Optional[float] = None,
        sample_rate: Optional[int] = None,
        boundary: float = 4800.0,
    ) -> None:
        if not 0.0 < max_warp < 0.5:
            raise ConfigError(f"the VTLP warp must be in (0, 0.5), got {max_warp}")
        bank = fbank_filter_bank()
        num_bins = bank[0] if num_bins is None else num_bins
        low_freq = bank[1] if low_freq is None else low_freq
        high_freq = bank[2] if high_freq is None else high_freq
        sample_rate = bank[3] if sample_rate is None else sample_rate
        self.max_warp = max_warp
        self.nyquist = sample_rate / 2
        self.boundary = boundary
        self._centers = mel_centers(num_bins, low_freq, high_freq)
        self._mel_low = float(_mel(torch.tensor(low_freq)))
        self._mel_step = (float(_mel(torch.tensor(high_freq))) - self._mel_low) / (num_bins + 1)

    def warp(self, features: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """``features`` [B, T, F] warped by ``alpha`` [B] (linear interpolation between bins)."""
        num_bins = features.shape[-1]
        if num_bins != len(self._centers):
            raise ConfigError(
                f"VTLP was set up for {len(self._centers)} mel bins, the features have {num_bins}"
            )
        source = vtlp_source_freqs(
            self._centers, alpha.float().cpu(), nyquist=self.nyquist, boundary=self.boundary
        )
        position = (_mel(source) - self._mel_low) / self._mel_step - 1.0
        position = position.clamp(0.0, num_bins - 1.0).to(features.device)
        lower = position.floor().long().clamp(max=num_bins - 2)
        weight = (position - lower).to(features.dtype)[:, None, :]
        index = lower[:, None, :].expand(-1, features.shape[1], -1)
        below = features.gather(2, index)
        above = features.gather(2, index + 1)
        return below + weight * (above - below)

    def __call__(self, features: torch.Tensor, supervision_segments: Any = None) -> torch.Tensor:
        """Warp each utterance of the batch by its own random ``alpha`` (torch's global RNG)."""
        alpha = 1.0 + self.max_warp * (2.0 * torch.rand(features.shape[0]) - 1.0)
        return self.warp(features, alpha)

    def __repr__(self) -> str:
        return f"VocalTractWarp(max_warp={self.max_warp})"


def chain(transforms: Sequence[Callable[..., torch.Tensor]]) -> Callable[..., torch.Tensor]:
    """One transform that applies ``transforms`` in order."""
    transforms = list(transforms)

    def apply(features: torch.Tensor, supervision_segments: Any = None) -> torch.Tensor:
        for transform in transforms:
            features = transform(features, supervision_segments=supervision_segments)
        return features

    return apply


def spec_augment() -> Callable[..., torch.Tensor]:
    """Lhotse's ``SpecAugment`` with the settings of ``catt train``: time warp, two frequency
    masks of up to 15 bins and two time masks of up to 20 frames per utterance."""
    from lhotse.dataset import SpecAugment

    return SpecAugment(
        time_warp_factor=20,
        num_feature_masks=2,
        features_mask_size=15,
        num_frame_masks=2,
        frames_mask_size=20,
        max_frames_mask_fraction=0.15,
    )


def training_transform(*, vtlp: float, spec_augment_on: bool) -> Optional[Callable[..., Any]]:
    """The transform of training batches: VTLP (when ``vtlp`` > 0), then SpecAugment (when
    ``spec_augment_on``); None when neither."""
    transforms: List[Callable[..., Any]] = []
    if vtlp > 0:
        transforms.append(VocalTractWarp(vtlp))
    if spec_augment_on:
        transforms.append(spec_augment())
    return chain(transforms) if transforms else None
