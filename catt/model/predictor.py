"""Label encoders (predictors): previous non-blank tokens -> label embeddings g_u.

Shapes: B batch, U tokens (the first is the blank start symbol), V vocabulary, D model dimension.

Both predictors are causal: the output at position u depends on tokens 0..u only, so a
sequence padded at the end gives the same embeddings at its valid positions.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from catt.model.config import ModelConfig
from catt.model.encoder import sinusoidal_positions

__all__ = ["StatelessPredictor", "TransformerPredictor", "build_predictor"]


class StatelessPredictor(nn.Module):
    """Embedding + depthwise causal conv over the last ``context_size`` tokens + ReLU.

    History before the start is taken as blanks, so the output at the last position of any
    window of ``context_size`` (or fewer, starting with blank) tokens equals what training saw.
    """

    def __init__(self, *, vocab_size: int, d_model: int, blank_id: int, context_size: int) -> None:
        super().__init__()
        self.blank_id = blank_id
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.conv: Optional[nn.Conv1d] = None
        if context_size > 1:
            self.conv = nn.Conv1d(
                d_model, d_model, kernel_size=context_size, groups=d_model, bias=False
            )

    def forward(self, y: Tensor) -> Tensor:
        """y: [B, U] token ids -> [B, U, D]."""
        if self.conv is not None:
            y = nn.functional.pad(y, (self.context_size - 1, 0), value=self.blank_id)
        x = self.embedding(y)
        if self.conv is not None:
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return torch.relu(x)


class TransformerPredictor(nn.Module):
    """Embedding + sinusoidal positions + causal pre-norm transformer over the whole history."""

    def __init__(
        self,
        *,
        vocab_size: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        ff_dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, ff_dim, dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, y: Tensor) -> Tensor:
        """y: [B, U] token ids -> [B, U, D]."""
        u = y.size(1)
        x = self.embedding(y) + sinusoidal_positions(u, self.embedding.embedding_dim, y.device)
        causal = torch.triu(torch.ones(u, u, dtype=torch.bool, device=y.device), diagonal=1)
        return self.norm(self.layers(x, mask=causal))


def build_predictor(config: ModelConfig) -> nn.Module:
    """The predictor named by ``config.predictor.type``."""
    p, e = config.predictor, config.encoder
    if p.type == "stateless":
        return StatelessPredictor(
            vocab_size=config.vocab_size,
            d_model=e.d_model,
            blank_id=config.blank_id,
            context_size=p.context_size,
        )
    return TransformerPredictor(
        vocab_size=config.vocab_size,
        d_model=e.d_model,
        num_layers=p.num_layers,
        num_heads=e.num_heads,
        ff_dim=e.ff_dim,
        dropout=e.dropout,
    )
