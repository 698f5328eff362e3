"""k2 RNN-T losses: pruned (simple loss -> prune ranges -> pruned joint) and full.

Shapes: B batch, T audio frames (after subsampling), U tokens, V vocabulary, J joiner
dimension, S = ``prune_range``. All losses are computed in float32 and summed over the batch.

Warm-up (the trainer's side): ``loss = simple_scale * simple + pruned_scale * pruned`` with
:func:`loss_scales`: simple 1.0 -> 0.5 and pruned 0.1 -> 1.0, linearly over ``warm_steps``.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import k2
import torch
from torch import Tensor

__all__ = ["make_boundary", "pruned_rnnt_loss", "full_rnnt_loss", "ctc_loss", "loss_scales"]

Joint = Callable[..., Tensor]
"""``joint(am [B,T,S,J], lm [B,T,S,J], columns=[B,T,S,2])``, or with ``lm_extra``
``joint(am, lm, extra [B,T,S,E], columns=...)`` -> [B,T,S,2]: the log-probabilities (normalized
over the vocabulary) of the two tokens ``columns`` names at each cell, blank and the symbol. The
loss reads no other: a joint need not write the [B,T,S,V] distribution (the list pointer's
mixture over V cost a fifth of a base training step, docs/training.md)."""


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
        joint: see :data:`Joint`; with ``lm_extra`` it gets that tensor pruned the same way as
            a third argument.
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
    px, py = _smoothed_lattice(
        am_simple.float(), lm_simple.float(), symbols, boundary, blank_id, am_scale, lm_scale
    )
    scores, (px_grad, py_grad) = k2.mutual_information_recursion(
        px=px, py=py, boundary=boundary, return_grad=True
    )
    simple = _reduce(-scores, reduction)
    ranges = k2.get_rnnt_prune_ranges(
        px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range
    )
    # As k2.do_rnnt_pruning, but its gather over lm expanded to [B, T, U+1, J] writes a zero
    # gradient of that whole size in backward (about 20 ms of a tiny step): gather over
    # lm itself instead.
    am_pruned = am.unsqueeze(2).expand(*ranges.shape, am.size(-1))
    lm_pruned = _prune_labels(lm, ranges)
    columns = _pruned_columns(symbols, ranges, blank_id)
    if lm_extra is None:
        log_probs = joint(am_pruned, lm_pruned, columns=columns)
    else:
        log_probs = joint(am_pruned, lm_pruned, _prune_labels(lm_extra, ranges), columns=columns)
    px, py = _pruned_lattice(log_probs.float(), ranges, boundary, symbols.size(1))
    pruned = -k2.mutual_information_recursion(px=px, py=py, boundary=boundary)
    return simple, _reduce(pruned, reduction)


def _pruned_columns(symbols: Tensor, ranges: Tensor, blank_id: int) -> Tensor:
    """[B, T, S, 2] token ids: blank, and the symbol at each pruned label position (blank past
    the last symbol)."""
    b, t, s = ranges.shape
    with_end = torch.cat([symbols, symbols.new_full((b, 1), blank_id)], dim=1)  # [B, U+1]
    pruned = torch.gather(with_end.unsqueeze(1).expand(b, t, with_end.size(1)), 2, ranges)
    return torch.stack([torch.full_like(pruned, blank_id), pruned], dim=-1)


def _pruned_lattice(
    log_probs: Tensor, ranges: Tensor, boundary: Tensor, num_symbols: int
) -> Tuple[Tensor, Tensor]:
    """The pruned cells' [B, T, S, 2] (blank, symbol) log-probabilities laid out on the whole
    lattice for ``k2.mutual_information_recursion``: px [B, U, T+1] (emit the next symbol) and
    py [B, U+1, T] (blank), -inf off the pruned band and past each sequence's frames (as k2's
    own ``rnnt_loss_pruned`` lays out what it reads from full logits)."""
    b, t, s = ranges.shape
    u = num_symbols
    # Row (b, t) holds label positions ranges[b, t, 0] ... + S - 1: move them to their place.
    place = (torch.arange(u + 1, device=ranges.device) - ranges[:, :, :1]) % (u + 1)
    pad = log_probs.new_full((b, t, u + 1 - s), -math.inf)
    px = torch.gather(torch.cat([log_probs[..., 1], pad], dim=2), 2, place)[:, :, :u]
    py = torch.gather(torch.cat([log_probs[..., 0], pad], dim=2), 2, place)
    return _no_symbol_at_end(px.permute(0, 2, 1), boundary), py.permute(0, 2, 1)


def _no_symbol_at_end(px: Tensor, boundary: Tensor) -> Tensor:
    """px [B, U, T] -> [B, U, T+1], -inf at and after each sequence's last frame: no symbol is
    emitted there."""
    b, u, t = px.shape
    px = torch.cat([px, px.new_full((b, u, 1), -math.inf)], dim=2)
    return px.scatter(2, boundary[:, 3].reshape(b, 1, 1).expand(b, u, t + 1), -math.inf)


def _smoothed_lattice(
    am: Tensor,
    lm: Tensor,
    symbols: Tensor,
    boundary: Tensor,
    blank_id: int,
    am_scale: float,
    lm_scale: float,
) -> Tuple[Tensor, Tensor]:
    """The simple loss's lattice: px [B, U, T+1] (emit the next symbol), py [B, U+1, T] (blank).

    The same values as ``k2.get_rnnt_logprobs_smoothed`` (a test compares them): each cell's
    log-probability under the trivial joiner ``softmax(am + lm)``, interpolated with the
    label-only ``softmax(lm)`` (weight ``lm_scale``) and the audio-only ``am`` over a unigram
    of the batch's label distributions (weight ``am_scale``). k2 reads a symbol's audio score
    from ``am`` expanded to [B, U, T, V], whose backward writes a zero gradient of that size
    (about 50 ms of a base training step); here it is read from ``am`` itself.
    """
    b, t, _ = am.shape
    u = symbols.size(1)
    tiny = torch.finfo(am.dtype).tiny
    am_max = am.max(dim=2, keepdim=True).values  # [B, T, 1]
    lm_max = lm.max(dim=2, keepdim=True).values  # [B, U+1, 1]
    am_probs, lm_probs = (am - am_max).exp(), (lm - lm_max).exp()
    joint_norm = (lm_probs @ am_probs.transpose(1, 2) + tiny).log()
    joint_norm = joint_norm + lm_max + am_max.transpose(1, 2)  # [B, U+1, T]
    lm_sums = lm_probs.sum(dim=2, keepdim=True)
    lm_norm = lm_sums.log() + lm_max  # [B, U+1, 1]
    unigram = (lm_probs / lm_sums).mean(dim=(0, 1)) + tiny  # [V]
    am_norm = ((am_probs @ unigram).log() + am_max.squeeze(2)).unsqueeze(1)  # [B, 1, T]
    log_unigram = unigram.log()
    # Zero weights would multiply -inf: k2 makes them 1e-20.
    joint_w = 1.0 - lm_scale - am_scale
    lm_w, am_w = lm_scale or 1e-20, am_scale or 1e-20

    def mix(am_score: Tensor, lm_score: Tensor, unigram_score: Tensor, rows: int) -> Tensor:
        joint = am_score + lm_score - joint_norm[:, :rows]
        label_only = lm_score - lm_norm[:, :rows]
        audio_only = am_score + unigram_score - am_norm
        return joint * joint_w + label_only * lm_w + audio_only * am_w

    sym_am = am.gather(2, symbols.unsqueeze(1).expand(b, t, u)).transpose(1, 2)  # [B, U, T]
    sym_lm = lm[:, :u].gather(2, symbols.unsqueeze(2))  # [B, U, 1]
    px = mix(sym_am, sym_lm, log_unigram[symbols].unsqueeze(2), u)
    py = mix(
        am[:, :, blank_id].unsqueeze(1),
        lm[:, :, blank_id : blank_id + 1],
        log_unigram[blank_id],
        u + 1,
    )
    return _no_symbol_at_end(px, boundary), py


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


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
