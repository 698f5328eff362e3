"""k2 RNN-T losses: pruned (simple loss -> prune ranges -> pruned joint) and full.

Shapes: B batch, T audio frames (after subsampling), U tokens, V vocabulary, J joiner
dimension, S = ``prune_range``. All losses are computed in float32 and summed over the batch.

Warm-up (the trainer's side): ``loss = simple_scale * simple + pruned_scale * pruned`` with
:func:`loss_scales`: simple 1.0 -> 0.5 and pruned 0.1 -> 1.0, linearly over ``warm_steps``.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import k2
import torch
from torch import Tensor

__all__ = ["make_boundary", "pruned_rnnt_loss", "full_rnnt_loss", "ctc_loss", "loss_scales"]

Joint = Callable[..., Tensor]
"""``joint(am [B,T,S,J], lm [B,T,S,J])``, or with ``lm_extra`` ``joint(am, lm, extra [B,T,S,E])``
-> logits [B,T,S,V]."""


def make_boundary(h_lens: Tensor, y_lens: Tensor) -> Tensor:
    """k2 boundary [B, 4] = (0, 0, U_b, T_b) from h_lens [B] and y_lens [B]."""
    boundary = torch.zeros(h_lens.size(0), 4, dtype=torch.int64, device=h_lens.device)
    boundary[:, 2] = y_lens
    boundary[:, 3] = h_lens
    return boundary


def pruned_rnnt_loss(
    *,
    am_simple: Tensor,
    lm_simple: Tensor,
    am: Tensor,
    lm: Tensor,
    joint: Joint,
    symbols: Tensor,
    boundary: Tensor,
    blank_id: int,
    prune_range: int,
    am_scale: float = 0.0,
    lm_scale: float = 0.25,
    lm_extra: Optional[Tensor] = None,
    reduction: str = "sum",
) -> Tuple[Tensor, Tensor]:
    """The simple (trivial-joiner) loss and the pruned loss, each summed over the batch
    (``reduction="none"``: one per sequence).

    Args:
        am_simple: [B, T, V] audio embeddings projected to the vocabulary (simple loss).
        lm_simple: [B, U+1, V] label embeddings projected to the vocabulary (simple loss).
        am: [B, T, J] audio embeddings projected by the joiner.
        lm: [B, U+1, J] label embeddings projected by the joiner.
        joint: ``joint(am_pruned [B,T,S,J], lm_pruned [B,T,S,J]) -> logits [B,T,S,V]``; with
            ``lm_extra`` it gets that tensor pruned the same way as a third argument.
        symbols: [B, U] int64 targets (padding anything, cut by ``boundary``).
        boundary: [B, 4] from :func:`make_boundary`.
        prune_range: S, the symbols kept per frame (>= 1; above U it keeps all).
        am_scale, lm_scale: weights of the audio-only and label-only terms of the simple loss.
        lm_extra: [B, U+1, E] more label-side input of the joint (any dtype), or None.

    Returns:
        (simple_loss, pruned_loss), scalars.
    """
    if prune_range < 1:
        raise ValueError(f"prune_range must be >= 1, got {prune_range}")
    simple, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
        lm=lm_simple.float(),
        am=am_simple.float(),
        symbols=symbols,
        termination_symbol=blank_id,
        lm_only_scale=lm_scale,
        am_only_scale=am_scale,
        boundary=boundary,
        reduction=reduction,
        return_grad=True,
    )
    ranges = k2.get_rnnt_prune_ranges(
        px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range
    )
    am_pruned, lm_pruned = k2.do_rnnt_pruning(am=am, lm=lm, ranges=ranges)
    if lm_extra is None:
        logits = joint(am_pruned, lm_pruned)
    else:
        logits = joint(am_pruned, lm_pruned, _prune_labels(lm_extra, ranges))
    pruned = k2.rnnt_loss_pruned(
        logits=logits.float(),
        symbols=symbols,
        ranges=ranges,
        termination_symbol=blank_id,
        boundary=boundary,
        reduction=reduction,
    )
    return simple, pruned


def _prune_labels(x: Tensor, ranges: Tensor) -> Tensor:
    """x [B, U+1, E] at the label positions of ``ranges`` [B, T, S] -> [B, T, S, E] (as
    ``k2.do_rnnt_pruning`` does for ``lm``)."""
    b, t, s = ranges.shape
    index = ranges.reshape(b, t * s, 1).expand(b, t * s, x.size(-1))
    return torch.gather(x, 1, index).view(b, t, s, x.size(-1))


def full_rnnt_loss(logits: Tensor, symbols: Tensor, boundary: Tensor, blank_id: int) -> Tensor:
    """The exact RNN-T loss of each sequence of the batch.

    Args:
        logits: [B, T, U+1, V].
        symbols: [B, U] int64.
        boundary: [B, 4] from :func:`make_boundary`.

    Returns:
        [B] negative log-likelihoods.
    """
    return k2.rnnt_loss(
        logits=logits.float(),
        symbols=symbols,
        termination_symbol=blank_id,
        boundary=boundary,
        reduction="none",
    )


def ctc_loss(
    logits: Tensor, h_lens: Tensor, symbols: Tensor, y_lens: Tensor, blank_id: int
) -> Tensor:
    """CTC loss of audio-side logits [B, T, V] against symbols [B, U], summed over the batch.

    An utterance too short for its tokens (CTC needs a frame between repeated tokens) adds 0
    instead of infinity.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # [T, B, V]
    return torch.nn.functional.ctc_loss(
        log_probs,
        symbols,
        h_lens,
        y_lens,
        blank=blank_id,
        reduction="sum",
        zero_infinity=True,
    )


def loss_scales(step: int, warm_steps: int) -> Tuple[float, float]:
    """(simple_scale, pruned_scale) at ``step``: 1.0 -> 0.5 and 0.1 -> 1.0 over ``warm_steps``.

    >>> loss_scales(0, 100), loss_scales(50, 100), loss_scales(500, 100)
    ((1.0, 0.1), (0.75, 0.55), (0.5, 1.0))
    """
    frac = 1.0 if warm_steps <= 0 else min(1.0, max(0.0, step / warm_steps))
    return 1.0 - 0.5 * frac, 0.1 + 0.9 * frac
