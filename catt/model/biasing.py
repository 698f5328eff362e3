"""Biasing layers: embeddings attend to phrase vectors; one interface, a registry by name.

Shapes: B batch, T query positions (audio frames or label positions), N phrases (the no-bias
vector included), D model dimension, Dc context dimension, B' 1 (phrase vectors shared by the
batch) or B.

Interface (:class:`BiasingLayer`)::

    forward(query [B, T, D], context [B, N, Dc], context_mask [B, N]) -> [B, T, D]

``context_mask`` is True where a phrase is present. ``context`` may be a broadcast (expanded,
read-only) view of vectors shared by the batch. To add a layer::

    @register_biasing_layer("gated")
    class GatedAdapter(BiasingLayer):
        def __init__(self, *, d_model, context_dim, num_heads, dropout): ...
        def forward(self, query, context, context_mask): ...

then ``biasing.layer: gated`` in a model config. A layer whose class sets
``uses_context = False`` makes the model build no context encoder at all.

Optional speed-up: a layer may override ``precompute(context [B', N, Dc]) -> state`` (work that
depends on the phrase vectors alone, such as projecting attention keys and values). The model
then calls it once per batch, or once per phrase list made ready by
``Transducer.prepare_phrases`` (the result is cached on the
:class:`~catt.model.context.BiasingContext`), and passes the result as
``forward(query, context, context_mask, precomputed=state)``. The default returns None, and a
layer that does not override it is called with the three arguments above.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn.functional as F
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

    def precompute(self, context: Tensor) -> Optional[Any]:
        """Work on the phrase vectors alone, context [B', N, Dc], done once per context.

        The default does nothing (returns None); a layer that returns something receives it as
        ``forward(..., precomputed=...)``.
        """
        return None

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

    The parameters are those of ``nn.MultiheadAttention`` (``attention.*`` in the state dict) and
    the math is the same, but keys and values are projected by :meth:`precompute`, once per
    phrase list, and queries attend to them directly: decoding calls the layer once per emitted
    token, and projecting N phrase vectors each time would dominate its cost.
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

    def precompute(self, context: Tensor) -> Tuple[Tensor, Tensor]:
        """Projected keys (transposed) and values, contiguous for the attention products.

        context [B', N, Dc] -> (keys [B', H, D/H, N], values [B', H, N, D/H]).
        """
        b = self.attention.in_proj_bias
        d = self.attention.embed_dim
        keys = self._split_heads(F.linear(context, self._weight(1), b[d : 2 * d]))
        values = self._split_heads(F.linear(context, self._weight(2), b[2 * d :]))
        return keys.transpose(-2, -1).contiguous(), values.contiguous()

    def forward(
        self,
        query: Tensor,
        context: Tensor,
        context_mask: Tensor,
        precomputed: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> Tensor:
        """query [B, T, D], context [B, N, Dc], context_mask [B, N] -> [B, T, D].

        ``precomputed``: :meth:`precompute` of the context (or of its shared [1, N, Dc] row);
        computed here when None.
        """
        if context.size(0) != query.size(0) or context_mask.size(0) != query.size(0):
            raise ValueError(
                f"context batch {tuple(context.shape)} (mask {tuple(context_mask.shape)}) does "
                f"not match query {tuple(query.shape)}"
            )
        keys, values = self.precompute(context) if precomputed is None else precomputed
        attended = self._attend(query, keys, values, context_mask)
        return self.proj(torch.cat([query, self.norm(attended)], dim=-1))

    def _weight(self, i: int) -> Tensor:
        """The query (0), key (1) or value (2) projection weight of the attention module (one
        packed ``in_proj_weight`` when Dc == D, three separate ones otherwise)."""
        a = self.attention
        if a.in_proj_weight is not None:
            d = a.embed_dim
            return a.in_proj_weight[i * d : (i + 1) * d]
        return (a.q_proj_weight, a.k_proj_weight, a.v_proj_weight)[i]

    def _split_heads(self, x: Tensor) -> Tensor:
        """[B, S, D] -> [B, H, S, D/H]."""
        h = self.attention.num_heads
        return x.view(x.size(0), x.size(1), h, x.size(2) // h).transpose(1, 2)

    def _attend(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> Tensor:
        """Scaled dot-product attention and output projection.

        query [B, T, D], keys [B', H, D/H, N], values [B', H, N, D/H], mask [B, N] (True:
        present) -> [B, T, D].
        """
        a = self.attention
        b, t, d = query.shape
        heads = a.num_heads
        q = F.linear(query, self._weight(0), a.in_proj_bias[:d])
        q = self._split_heads(q) / math.sqrt(d // heads)  # [B, H, T, D/H]
        dropout = a.dropout if self.training else 0.0
        if keys.size(0) == 1 and dropout == 0.0:
            # Shared keys: fold the batch into the query positions, no copy of the keys.
            q = q.transpose(0, 1).reshape(heads, b * t, d // heads)
            scores = torch.matmul(q, keys[0]).view(heads, b, t, -1)
            scores = scores.masked_fill(~mask[None, :, None, :], float("-inf"))
            weights = scores.softmax(dim=-1).view(heads, b * t, -1)
            out = torch.matmul(weights, values[0]).view(heads, b, t, -1).permute(1, 2, 0, 3)
        else:
            keys, values = keys.expand(b, -1, -1, -1), values.expand(b, -1, -1, -1)
            scores = torch.matmul(q, keys)  # [B, H, T, N]
            scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
            weights = scores.softmax(dim=-1)
            if dropout > 0.0:
                weights = F.dropout(weights, p=dropout)
            out = torch.matmul(weights, values).transpose(1, 2)  # [B, T, H, D/H]
        return a.out_proj(out.reshape(b, t, d))
