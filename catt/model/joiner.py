"""Joint network: project audio and label embeddings to J, add, tanh, linear to V.

Shapes: D model dimension, J joiner dimension, V vocabulary; ``...`` any leading shape that
broadcasts, e.g. [B, T, D] with [B, T, D] in search, [B, T, 1, D] with [B, 1, U+1, D] for the
full loss, or already projected [B, T, s_range, J] pairs for the pruned loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Joiner"]


class Joiner(nn.Module):
    """``logits = out(tanh(enc_proj(h) + pred_proj(g)))``."""

    def __init__(self, *, d_model: int, joiner_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.enc_proj = nn.Linear(d_model, joiner_dim)
        self.pred_proj = nn.Linear(d_model, joiner_dim)
        self.out = nn.Linear(joiner_dim, vocab_size)

    def forward(self, h: Tensor, g: Tensor, project_input: bool = True) -> Tensor:
        """Logits of the next token.

        Args:
            h: [..., D] audio embeddings ([..., J] when ``project_input`` is False).
            g: [..., D] label embeddings ([..., J] when ``project_input`` is False).
            project_input: False when h and g were already projected (pruned loss).

        Returns:
            [..., V] unnormalized logits.
        """
        if project_input:
            h, g = self.enc_proj(h), self.pred_proj(g)
        return self.out(torch.tanh(h + g))
