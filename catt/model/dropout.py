"""Dropout on the CPU with a mask drawn 16 bits at a time.

PyTorch 1.13 draws a CPU dropout mask one element at a time (``bernoulli_``; on Intel processors
through MKL, elsewhere a scalar loop): 22 ms for the [33, 73, 576] feed-forward activations of a
base training batch on 2 AMD EPYC cores, about a tenth of the training step in all
(docs/training.md). :class:`MaskDropout` draws 64-bit random words instead (``random_``, 1.3 ms
for the same mask) and reads four 16-bit draws from each. The drop probability is then a
multiple of 1/65,536, within 8e-6 of ``p``, and the survivors are scaled by the inverse of the
keep probability, as ``nn.Dropout`` does. On other devices it is ``F.dropout``, already fast.
:func:`use_mask_dropout` puts it in place of a model's ``nn.Dropout`` modules (``build_model``
does); they hold no weights, so model files are unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaskDropout", "keep_mask", "use_mask_dropout"]

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
        self.keep = 1.0 - round(p * LEVELS) / LEVELS

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.keep == 1.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return x * keep_mask(x.shape, self.p, x.device) * (1.0 / self.keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_mask_dropout(model: nn.Module) -> nn.Module:
    """``model`` with each of its ``nn.Dropout`` modules replaced by a :class:`MaskDropout` of
    the same probability, in place (attention's own dropout, inside ``nn.MultiheadAttention``,
    stays)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                setattr(module, name, MaskDropout(child.p))
    return model
