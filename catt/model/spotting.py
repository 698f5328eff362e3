"""Phrase spotting with the CTC head: how well each list phrase fits the audio, somewhere in it.

For each phrase, the best alignment of its CTC topology (blank, y1, blank, ..., yL, blank) to any
stretch of the utterance's frames, the frames around it free. A frame inside the stretch costs
its label's log-probability below the frame's best label, a free frame nothing, so the score is a
log-likelihood ratio against the CTC head's best path: 0 when that path says the phrase somewhere,
lower the more the audio must bend to fit it. It is the Viterbi form of CTC keyword spotting.

The phrase-scoring list pointer adds it to each phrase's score (``biasing.pointer_spotting``,
:mod:`catt.model.pointer`): the keys match a phrase's spelling to the joiner's state, and the
spotting score says whether the audio holds that phrase at all, as list resolution
(:mod:`catt.decode.resolve`) judges phrases by the CTC head after the search.

>>> logp = torch.log_softmax(5 * torch.eye(4)[[0, 2, 3, 0]], dim=-1).unsqueeze(0)  # "2 3"
>>> spot_scores(logp, torch.tensor([4]), [[[2, 3], [3, 2], [1]]], blank_id=0).round().tolist()
[[0.0, -5.0, -5.0]]
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor

__all__ = ["SPOT_FLOOR", "spot_scores"]

SPOT_FLOOR = -100.0
"""The lowest score: a phrase past a list's end, or too long for the utterance's frames."""

_NEG = -1.0e9  # an unreachable state (finite: no NaN from inf - inf)


def spot_scores(
    log_probs: Tensor,
    lengths: Tensor,
    lists: Sequence[Sequence[Sequence[int]]],
    *,
    blank_id: int,
    token_bonus: float = 0.0,
) -> Tensor:
    """Spotting scores (see the module docstring) of each phrase of each utterance's list.

    Args:
        log_probs: [B, T, V] CTC log-probabilities.
        lengths: [B] valid frames of each utterance.
        lists: B phrase lists, each phrase a non-empty list of token ids (no blank).
        token_bonus: added per token of a phrase that fits. A free stretch favours short
            phrases (two pieces fit some part of any utterance), as the CTC score of list
            resolution favours short sequences; the bonus offsets it.

    Returns:
        [B, K] float32 (K: the longest list): in [SPOT_FLOOR, 0] plus ``token_bonus`` per
        token; SPOT_FLOOR past a list's end and for a phrase that fits nowhere.
    """
    batch, frames, _ = log_probs.shape
    device = log_probs.device
    width = max((len(ps) for ps in lists), default=0)
    if width == 0 or frames == 0:
        return torch.full((batch, width), SPOT_FLOOR, device=device)
    longest = max(len(p) for ps in lists for p in ps)
    states = 2 * longest + 1
    rows: List[List[int]] = []
    sizes: List[int] = []
    for phrases in lists:
        for phrase in phrases:
            row = [blank_id] * states
            row[1 : 2 * len(phrase) : 2] = [int(y) for y in phrase]
            rows.append(row)
            sizes.append(len(phrase))
        rows += [[blank_id] * states] * (width - len(phrases))
        sizes += [0] * (width - len(phrases))
    labels = torch.tensor(rows, dtype=torch.long, device=device).view(batch, width, states)
    size = torch.tensor(sizes, dtype=torch.long, device=device).view(batch, width, 1)
    index = torch.arange(states, device=device)
    # What a state may not do, as scores to add: be entered from two states back (only a
    # label, from the label before the blank before it, unless the two are equal), hold a
    # frame past its phrase's end.
    no_skip = torch.full((batch, width, states), _NEG, device=device)
    no_skip[..., 3::2] = (labels[..., 3::2] == labels[..., 1:-2:2]).float() * _NEG
    outside = (index > 2 * size).float() * _NEG
    ends = (2 * size - 1).clamp(min=0).expand(batch, width, 2) + torch.tensor([0, 1], device=device)

    below_best = log_probs.float() - log_probs.float().max(dim=-1, keepdim=True).values
    flat = labels.view(batch, -1)
    live = (torch.arange(frames, device=device) < lengths.to(device).unsqueeze(-1)).unsqueeze(-1)
    # alpha in columns 2.. of a buffer whose first two columns stay unreachable: the shifted
    # views are the states one and two back.
    buffer = torch.full((batch, width, states + 2), _NEG, device=device)
    best = torch.full((batch, width), _NEG, device=device)
    for t in range(frames):
        cost = below_best[:, t].gather(1, flat).view(batch, width, states)
        prev = torch.maximum(buffer[..., 2:], buffer[..., 1:-1])
        prev = torch.maximum(prev, buffer[..., :-2] + no_skip)
        prev[..., :2].clamp_(min=0.0)  # a stretch may start here, at no cost so far
        buffer[..., 2:] = prev + cost + outside
        ended = buffer[..., 2:].gather(-1, ends).max(dim=-1).values
        best = torch.where(live[:, t], torch.maximum(best, ended), best)
    size = size.squeeze(-1)
    return (best + token_bonus * size).masked_fill((best <= SPOT_FLOOR) | (size == 0), SPOT_FLOOR)
