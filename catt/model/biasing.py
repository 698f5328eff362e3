"""Biasing layers: embeddings attend to phrase vectors; one interface, a registry by name.

Shapes: B batch, T query positions (audio frames or label positions), N phrases (the no-bias
vector included), D model dimension, Dc context dimension.

Interface (:class:`BiasingLayer`)::

    forward(query [B, T, D], context [B, N, Dc], context_mask [B, N]) -> [B, T, D]

``context_mask`` is True where a phrase is present. To add a layer::

    @register_biasing_layer("gated")
    class GatedAdapter(BiasingLayer):
        def __init__(self, *, d_model, context_dim, num_heads, dropout): ...
        def forward(self, query, context, context_mask): ...

then ``biasing.layer: gated`` in a model config. A layer whose class sets
``uses_context = False`` makes the model build no context encoder at all.
"""

from __future__ import annotations

from typing import Callable, Dict, Type

import torch
from torch import Tensor, nn

__all__ = [
    "BiasingLayer",
    "NoBiasing",
    "AttentionBiasing",
    "BIASING_LAYERS",
    "register_biasing_layer",
]


class BiasingLayer(nn.Module):
    """Interface: ``forward(query [B,T,D], context [B,N,Dc], context_mask [B,N]) -> [B,T,D]``.

    Constructors are keyword-only: ``d_model``, ``context_dim``, ``num_heads``, ``dropout``.
    """

    uses_context = True

    def forward(self, query: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        raise NotImplementedError  # pragma: no cover


BIASING_LAYERS: Dict[str, Type[BiasingLayer]] = {}


def register_biasing_layer(name: str) -> Callable[[Type[BiasingLayer]], Type[BiasingLayer]]:
    """Class decorator: make a layer available as ``biasing.layer: <name>``."""

    def add(cls: Type[BiasingLayer]) -> Type[BiasingLayer]:
        BIASING_LAYERS[name] = cls
        return cls

    return add


@register_biasing_layer("none")
class NoBiasing(BiasingLayer):
    """The plain transducer: returns the query unchanged; no parameters."""

    uses_context = False

    def __init__(self, *, d_model: int, context_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()

    def forward(self, query: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """query [B, T, D] -> the same tensor."""
        return query


@register_biasing_layer("attention")
class AttentionBiasing(BiasingLayer):
    """The CATT layer: multi-head attention over the phrase vectors, layer-normed, concatenated
    with the query and projected back to D.

    The projection starts as the identity on the query half (its context half has the usual
    random init), so an untrained layer passes the unbiased embedding through almost unchanged
    and training the plain transducer is not disturbed by random context.
    """

    def __init__(self, *, d_model: int, context_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(
            d_model,
            num_heads,
            dropout=dropout,
            kdim=context_dim,
            vdim=context_dim,
            batch_first=True,
        )
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(2 * d_model, d_model)
        with torch.no_grad():
            self.proj.weight[:, :d_model].copy_(torch.eye(d_model))
            self.proj.bias.zero_()

    def forward(self, query: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """query [B, T, D], context [B, N, Dc], context_mask [B, N] -> [B, T, D]."""
        if context.size(0) != query.size(0):
            raise ValueError(
                f"context batch {tuple(context.shape)} does not match query {tuple(query.shape)}"
            )
        attended, _ = self.attention(
            query, context, context, key_padding_mask=~context_mask, need_weights=False
        )
        return self.proj(torch.cat([query, self.norm(attended)], dim=-1))
