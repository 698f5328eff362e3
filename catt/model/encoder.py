"""Audio encoder: per-utterance feature normalization, conv subsampling x4, transformer.

With ``conv_kernel`` > 0 each transformer layer is followed by a conformer convolution module
(pointwise conv and GLU, depthwise conv over time, norm, SiLU, pointwise conv; residual): the
self-attention sees the whole utterance, the depthwise conv the few frames around each one,
which is where the sounds of a word are.

Shapes: B batch, T input frames, T' = ((T - 1) // 2 - 1) // 2 output frames, F feature bins,
D model dimension.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor, nn

__all__ = [
    "AudioEncoder",
    "ConvolutionModule",
    "normalize_features",
    "subsampled_lengths",
    "sinusoidal_positions",
    "padding_mask",
]

MIN_FRAMES = 7  # the shortest input that gives one output frame after subsampling x4


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> Tensor:
    """Absolute sinusoidal position encodings [length, dim]."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


def padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """True at padded positions: lengths [B] -> [B, max_len]."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


def normalize_features(features: Tensor, feature_lens: Tensor, eps: float = 1e-5) -> Tensor:
    """Zero mean, unit variance over each utterance's own frames, per feature bin.

    Args:
        features: [B, T, F].
        feature_lens: [B] valid frames of each utterance.

    Returns:
        [B, T, F], padded frames set to 0.
    """
    valid = (~padding_mask(feature_lens, features.size(1))).unsqueeze(-1).to(features.dtype)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1.0)  # [B, 1, 1]
    mean = (features * valid).sum(dim=1, keepdim=True) / count
    var = (((features - mean) * valid) ** 2).sum(dim=1, keepdim=True) / count
    return (features - mean) / torch.sqrt(var + eps) * valid


def subsampled_lengths(feature_lens: Tensor) -> Tensor:
    """Output frames of the x4 conv subsampling for input lengths [B] (at least 1)."""
    return (((feature_lens.clamp(min=MIN_FRAMES) - 1) // 2 - 1) // 2).clamp(min=1)


class _Conv2dSubsampling(nn.Module):
    """Two 3x3 stride-2 convolutions over (time, frequency), then a linear layer to D."""

    def __init__(self, *, feature_dim: int, channels: int, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=2),
            nn.ReLU(),
        )
        freq = ((feature_dim - 1) // 2 - 1) // 2
        self.out = nn.Linear(channels * freq, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, T, F] -> [B, T', D]."""
        x = self.conv(x.unsqueeze(1))  # [B, C, T', F']
        b, c, t, f = x.shape
        return self.out(x.transpose(1, 2).reshape(b, t, c * f))


class ConvolutionModule(nn.Module):
    """The conformer convolution block, pre-norm and residual: [B, T, D] -> [B, T, D].

    LayerNorm where the conformer paper has BatchNorm: batches here are small and padded, and a
    LayerNorm behaves the same in training and decoding.
    """

    def __init__(self, *, d_model: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.norm_in = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Linear(d_model, 2 * d_model)
        self.depthwise = nn.Conv1d(
            d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model
        )
        self.norm_mid = nn.LayerNorm(d_model)
        self.pointwise_out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, pad: Tensor) -> Tensor:
        """x [B, T, D], pad [B, T] (True at padded frames) -> [B, T, D].

        Padded frames are zeroed before the depthwise conv, so an utterance's output does not
        depend on what it was batched with.
        """
        y = nn.functional.glu(self.pointwise_in(self.norm_in(x)), dim=-1)
        y = y.masked_fill(pad.unsqueeze(-1), 0.0)
        y = self.depthwise(y.transpose(1, 2)).transpose(1, 2)
        y = self.pointwise_out(nn.functional.silu(self.norm_mid(y)))
        return x + self.dropout(y)


class AudioEncoder(nn.Module):
    """Features -> audio embeddings h_t (pre-norm transformer over subsampled frames)."""

    def __init__(
        self,
        *,
        feature_dim: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        ff_dim: int,
        dropout: float,
        conv_channels: int,
        conv_kernel: int = 0,
    ) -> None:
        super().__init__()
        if feature_dim < MIN_FRAMES:
            raise ValueError(f"feature_dim must be >= {MIN_FRAMES}, got {feature_dim}")
        self.subsampling = _Conv2dSubsampling(
            feature_dim=feature_dim, channels=conv_channels, d_model=d_model
        )
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, ff_dim, dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.convs = nn.ModuleList(
            ConvolutionModule(d_model=d_model, kernel_size=conv_kernel, dropout=dropout)
            for _ in range(num_layers if conv_kernel else 0)
        )
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: Tensor, feature_lens: Tensor) -> Tuple[Tensor, Tensor]:
        """Normalize, subsample and encode.

        Args:
            features: [B, T, F] log-mel features.
            feature_lens: [B] valid frames.

        Returns:
            h [B, T', D] and h_lens [B].
        """
        x = normalize_features(features, feature_lens)
        if x.size(1) < MIN_FRAMES:
            x = nn.functional.pad(x, (0, 0, 0, MIN_FRAMES - x.size(1)))
        x = self.subsampling(x)
        h_lens = subsampled_lengths(feature_lens).clamp(max=x.size(1))
        x = self.dropout(x + sinusoidal_positions(x.size(1), x.size(2), x.device))
        pad = padding_mask(h_lens, x.size(1))
        for i, layer in enumerate(self.layers.layers):
            x = layer(x, src_key_padding_mask=pad)
            if self.convs:
                x = self.convs[i](x, pad)
        return self.norm(x), h_lens
