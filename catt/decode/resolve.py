"""List resolution: a slot value the search heard, replaced by the list phrase the audio supports.

The transducer search writes a contact or device span such as ``<contact> cathy </contact>``
even when it cannot spell the name it heard. Resolution takes each such span of the best
hypothesis, puts every phrase of the list in its place, and scores each whole token sequence with
the model's CTC head: the log-likelihood of the audio given the tokens, plus ``bonus`` per token.
The best sequence wins; the search's own span is kept unless a phrase scores strictly higher.

Only the span changes, so the words around it (U-WER) stay as the search wrote them. The CTC head
has no language model, so it judges the name by its sound alone; the bonus offsets the CTC
preference for short sequences (it was chosen on the dev split, docs/results.md). It is the
same idea as CTC keyword spotting against a phrase list, applied to the slots the model tagged.

>>> # ids: 0 blank, 1 <contact>, 2 </contact>, 3 and 4 names; the frames say 1, 3, 2
>>> logp = torch.log_softmax(5 * torch.eye(5)[[1, 3, 2]], dim=-1)
>>> resolve_spans([1, 4, 2], logp, [[3], [4, 4]], {1: 2}, blank_id=0, bonus=0.0)
[1, 3, 2]
"""

from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["LIST_SLOTS", "ctc_scores", "slot_spans", "resolve_spans"]

LIST_SLOTS = ("contact", "device")
"""The slot types whose values come from the user's phrase lists."""


def ctc_scores(
    log_probs: Tensor,
    sequences: Sequence[Sequence[int]],
    *,
    blank_id: int,
    bonus: float,
    chunk_size: int = 256,
) -> Tensor:
    """CTC log-likelihood of each token sequence given one utterance, plus ``bonus`` per token.

    Args:
        log_probs: [T, V] CTC log-probabilities of the utterance's frames.
        sequences: S token-id lists (no blank).
        chunk_size: sequences scored together (bounds memory for long lists).

    Returns:
        [S] scores; -inf for a sequence too long for the frames.
    """
    out = []
    frames, device = log_probs.size(0), log_probs.device
    for start in range(0, len(sequences), chunk_size):
        chunk = sequences[start : start + chunk_size]
        lengths = torch.tensor([len(s) for s in chunk], dtype=torch.long)
        symbols = torch.zeros(len(chunk), max(1, int(lengths.max())), dtype=torch.long)
        for i, seq in enumerate(chunk):
            symbols[i, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        nll = torch.nn.functional.ctc_loss(
            log_probs.float().unsqueeze(1).expand(frames, len(chunk), -1),
            symbols.to(device),
            torch.full((len(chunk),), frames, dtype=torch.long),
            lengths,
            blank=blank_id,
            reduction="none",
            zero_infinity=False,
        )
        out.append(-nll + bonus * lengths.to(nll.device, nll.dtype))
    return torch.cat(out) if out else torch.zeros(0, device=device)


def slot_spans(tokens: Sequence[int], tags: Mapping[int, int]) -> List[Tuple[int, int]]:
    """(open, close) positions of the slots whose opening tag id is a key of ``tags`` (its value:
    the closing tag id); a slot left open is skipped.

    >>> slot_spans([7, 1, 5, 2, 9, 1, 6], {1: 2})
    [(1, 3)]
    """
    tokens = list(tokens)
    spans = []
    i = 0
    while i < len(tokens):
        close = tags.get(tokens[i])
        if close is not None:
            try:
                j = tokens.index(close, i + 1)
            except ValueError:
                break
            spans.append((i, j))
            i = j
        i += 1
    return spans


def resolve_spans(
    tokens: Sequence[int],
    log_probs: Tensor,
    phrases: Sequence[Sequence[int]],
    tags: Mapping[int, int],
    *,
    blank_id: int,
    bonus: float,
) -> List[int]:
    """The hypothesis ``tokens`` with each list slot's value replaced by the best-scoring phrase.

    Args:
        tokens: the search's best hypothesis (token ids, tags included).
        log_probs: [T, V] CTC log-probabilities of its utterance (valid frames only).
        phrases: the list, as token ids.
        tags: opening tag id -> closing tag id of the slots to resolve.
        bonus: score per token (see the module docstring).

    Returns:
        The resolved token ids (``tokens`` itself when no phrase scores higher).
    """
    out = list(tokens)
    if not phrases:
        return out
    for start, end in reversed(slot_spans(out, tags)):
        head, tail = out[: start + 1], out[end:]
        candidates = [out] + [head + list(p) + tail for p in phrases]
        scores = ctc_scores(log_probs, candidates, blank_id=blank_id, bonus=bonus)
        out = candidates[int(torch.argmax(scores))]  # ties keep the search's own span
    return out
