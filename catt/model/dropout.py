"""Dropout on the CPU with a mask drawn 16 bits at a time.

PyTorch 1.13 draws a CPU dropout mask one element at a time (``bernoulli_``; on Intel processors
through MKL, elsewhere a scalar loop): 22 ms for the [33, 73, 576] feed-forward activations of a
base training batch on 2 AMD EPYC cores, about a tenth of the training step in all
(docs/training.md). :class:`MaskDropout` draws 64-bit random words instead (``random_``, 1.3 ms
for the same mask) and reads four 16-bit draws from each. The drop probability is then a
multiple of 1/65,536, within 8e-6 of ``p``, and the survivors are scaled by the inverse of the
keep probability, as ``nn.Dropout`` does. On other devices it is ``F.dropout``, already fast.
:func:`use_mask_dropout` puts it in place of a model's ``nn.Dropout`` modules and inside its
attention modules (``build_model`` does); they hold no weights, so model files are unchanged.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskDropout", "MaskDropoutAttention", "keep_mask", "mask_dropout", "use_mask_dropout"]

LEVELS = 1 << 16
"""The drop probability is a multiple of 1 / LEVELS."""


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> Tensor:
    """A bool tensor of ``shape``: True with probability 1 - round(p * LEVELS) / LEVELS, from
    torch's default generator (``torch.manual_seed`` makes it reproducible)."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    draws = words.view(torch.int16)[:n].view(shape)  # uniform over [-32768, 32767]
    return draws >= round(p * LEVELS) - LEVELS // 2


class MaskDropout(nn.Module):
    """``nn.Dropout(p)`` whose CPU mask comes from :func:`keep_mask`."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return mask_dropout(x, self.p) if self.training else x

    def extra_repr(self) -> str:
        return f"p={self.p}"


def mask_dropout(x: Tensor, p: float) -> Tensor:
    """Training-mode dropout of ``x`` with probability ``p``: the mask of :func:`keep_mask` on
    the CPU, ``F.dropout`` elsewhere."""
    keep = 1.0 - round(p * LEVELS) / LEVELS
    if keep == 1.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    return x * keep_mask(x.shape, p, x.device) * (1.0 / keep)


class MaskDropoutAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` whose training-mode self-attention on the CPU drops attention
    weights with :func:`mask_dropout`: torch's mask for the [128, 74, 74] weights of a base
    encoder layer takes 9 ms, a tenth of the layer's forward and backward. The same
    parameters; any other call (eval mode, cross-attention, weights asked for, an attention
    mask) is ``nn.MultiheadAttention``'s own."""

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Optional[Tensor] = None,
        need_weights: bool = True,
        attn_mask: Optional[Tensor] = None,
        average_attn_weights: bool = True,
    ) -> Tuple[Tensor, Optional[Tensor]]:
        ours = (
            self.training
            and self.dropout > 0.0
            and query.device.type == "cpu"
            and query is key
            and key is value
            and query.dim() == 3
            and self.batch_first
            and self._qkv_same_embed_dim
            and self.in_proj_bias is not None
            and self.bias_k is None
            and not self.add_zero_attn
            and not need_weights
            and attn_mask is None
            and (key_padding_mask is None or key_padding_mask.dtype == torch.bool)
        )
        if not ours:
            return super().forward(
                query,
                key,
                value,
                key_padding_mask=key_padding_mask,
                need_weights=need_weights,
                attn_mask=attn_mask,
                average_attn_weights=average_attn_weights,
            )
        b, t, d = query.shape
        heads = self.num_heads
        qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # [B, H, T, D/H]
        scores = torch.matmul(q / math.sqrt(d // heads), k.transpose(-2, -1))  # [B, H, T, T]
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask.view(b, 1, 1, t), float("-inf"))
        weights = mask_dropout(scores.softmax(dim=-1), self.dropout)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, t, d)
        return self.out_proj(out), None


def use_mask_dropout(model: nn.Module) -> nn.Module:
    """``model`` with each of its ``nn.Dropout`` modules replaced by a :class:`MaskDropout` of
    the same probability, and each ``nn.MultiheadAttention`` made a
    :class:`MaskDropoutAttention` (its class changed: the same parameters, the same names),
    in place."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                setattr(module, name, MaskDropout(child.p))
            elif type(child) is nn.MultiheadAttention:
                child.__class__ = MaskDropoutAttention
    return model
