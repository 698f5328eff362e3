"""Vocal tract length perturbation of log-mel features, and chaining feature transforms."""

import pytest
import torch

from catt.data.augment import (
    VocalTractWarp,
    chain,
    fbank_filter_bank,
    mel_centers,
    training_transform,
    vtlp_source_freqs,
)
from catt.errors import ConfigError
from catt.train import TrainConfig


def test_mel_centers_are_the_peaks_of_lhotse_filters():
    from lhotse.features.kaldi.layers import create_mel_scale

    bank = create_mel_scale(
        num_filters=80,
        fft_length=512,
        sampling_rate=16000,
        low_freq=20.0,
        high_freq=-400.0,
        norm_filters=False,
    )
    peaks = bank.argmax(dim=0).float() * 16000 / 512
    assert fbank_filter_bank() == (80, 20.0, 7600.0, 16000)
    centers = mel_centers(80, 20.0, 7600.0)
    assert (peaks - centers).abs().max() <= 16000 / 512  # one FFT bin


def test_warp_map_is_continuous_and_keeps_the_band_edge():
    freqs = torch.linspace(0.0, 8000.0, 4001)
    alpha = torch.tensor([0.9, 1.0, 1.1])
    source = vtlp_source_freqs(freqs, alpha, nyquist=8000.0, boundary=4800.0)
    assert torch.allclose(source[1], freqs)
    assert torch.allclose(source[:, -1], torch.full((3,), 8000.0))
    assert torch.allclose(source[:, 100], freqs[100] * alpha)  # 200 Hz: the scaled part
    steps = source.diff(dim=1)
    assert (steps > 0).all()  # monotonic, no jump at the change of slope
    assert steps.max() < 2.0 * 1.2


def test_no_warp_is_identity():
    features = torch.randn(3, 7, 80)
    warped = VocalTractWarp(0.1).warp(features, torch.ones(3))
    assert torch.allclose(warped, features, atol=1e-4)


@pytest.mark.parametrize("alpha, moves", [(1.1, "down"), (0.9, "up")])
def test_warp_moves_a_formant(alpha, moves):
    bins = torch.arange(80).float()
    features = -((bins - 40.0) ** 2) / 8.0  # one spectral peak at bin 40
    features = features.expand(1, 5, 80).contiguous()
    warped = VocalTractWarp(0.1).warp(features, torch.tensor([alpha]))
    peak = int(warped[0, 0].argmax())
    assert (peak < 40) if moves == "down" else (peak > 40)
    assert warped.shape == features.shape


def test_each_utterance_gets_its_own_warp_and_the_seed_fixes_it():
    features = torch.randn(1, 20, 80).expand(4, 20, 80).contiguous()
    warp = VocalTractWarp(0.1)
    torch.manual_seed(0)
    first = warp(features)
    torch.manual_seed(0)
    again = warp(features)
    assert torch.equal(first, again)
    assert not torch.allclose(first[0], first[1])
    assert torch.isfinite(first).all()


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="VTLP warp"):
        VocalTractWarp(0.7)
    with pytest.raises(ConfigError, match="80 mel bins"):
        VocalTractWarp(0.1).warp(torch.zeros(1, 3, 40), torch.ones(1))
    with pytest.raises(ConfigError, match="train.vtlp"):
        TrainConfig.from_dict({"data": {"dir": "d"}, "train": {"vtlp": -0.1}})


def test_chain_applies_transforms_in_order():
    calls = []

    def add(value):
        def transform(features, supervision_segments=None):
            calls.append((value, supervision_segments))
            return features + value

        return transform

    out = chain([add(1.0), add(10.0)])(torch.zeros(2), supervision_segments="segs")
    assert torch.equal(out, torch.full((2,), 11.0))
    assert calls == [(1.0, "segs"), (10.0, "segs")]


def test_training_transform_is_none_without_augmentation_and_warps_with_vtlp():
    assert training_transform(vtlp=0.0, spec_augment_on=False) is None
    features = torch.randn(2, 30, 80)
    torch.manual_seed(0)
    warped = training_transform(vtlp=0.1, spec_augment_on=False)(features)
    torch.manual_seed(0)
    assert torch.equal(warped, VocalTractWarp(0.1)(features))
    both = training_transform(vtlp=0.1, spec_augment_on=True)(features.clone())
    assert both.shape == features.shape and not torch.equal(both, warped)
