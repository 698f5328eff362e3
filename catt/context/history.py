"""Training label histories in which the list pointer has spelled a wrong name.

When decoding, the list pointer may spell the start of a listed name that the audio does not
continue (``▁pu mp`` of "pump room" where the user said "porch light"). In training the label
history is always the reference, so the model never saw a wrong name in its own history, and
when decoding it then emits blank to the end of the utterance: the slot never closes and the
words after it are lost (docs/results.md, "Where the U-WER goes").

Training may therefore overwrite, in the predictor's input only, the start of some list-slot
values with the start of another phrase of the utterance's list (``context.wrong_name_prob``).
The targets stay the reference, so the model learns to go on with what the audio says after a
wrong name, and the pointer's gate learns that a partial match of the list is not always right.
The history keeps the reference's length, so the transducer lattice is unchanged.

>>> rng = random.Random(0)
>>> wrong_name_history([9, 5, 6, 7, 10, 3], {9: 10}, [[5, 6, 7], [8, 4, 4, 4]], rng, prob=1.0)
[9, 8, 6, 7, 10, 3]
"""

from __future__ import annotations

import random
from typing import List, Mapping, Sequence

__all__ = ["wrong_name_history"]


def wrong_name_history(
    tokens: Sequence[int],
    slot_pairs: Mapping[int, int],
    phrases: Sequence[Sequence[int]],
    rng: random.Random,
    *,
    prob: float,
) -> List[int]:
    """``tokens`` with the start of some slot values overwritten by the start of another phrase.

    Each value between an opening tag of ``slot_pairs`` and its closing tag is, with probability
    ``prob``, overwritten from its first token by the first k tokens of a phrase of ``phrases``
    drawn at random among those that part from the value within its length; k is drawn so that
    at least one token differs. Tokens after the first k, the tags and the words outside the slot
    are kept.

    Args:
        tokens: the reference's token ids.
        slot_pairs: the closing tag id by the opening tag id of the slots to overwrite.
        phrases: the utterance's phrase list as token ids.
        rng: the source of the draws (seeded per utterance by the caller).
        prob: probability of overwriting each slot value.

    Returns:
        A new list of the same length as ``tokens``.
    """
    out = [int(t) for t in tokens]
    u = 0
    while u < len(out):
        closing = slot_pairs.get(out[u])
        end = _find(out, closing, u + 1) if closing is not None else -1
        if end < 0:
            u += 1
            continue
        value = out[u + 1 : end]
        if value and rng.random() < prob:
            choices = [(p, _common_prefix(p, value)) for p in phrases]
            choices = [(p, d) for p, d in choices if d < min(len(p), len(value))]
            if choices:
                phrase, common = rng.choice(choices)
                k = rng.randint(common + 1, min(len(phrase), len(value)))
                out[u + 1 : u + 1 + k] = [int(t) for t in phrase[:k]]
        u = end + 1
    return out


def _find(tokens: Sequence[int], token: int, start: int) -> int:
    """The first index >= ``start`` of ``token``, or -1."""
    for i in range(start, len(tokens)):
        if tokens[i] == token:
            return i
    return -1


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of ``a`` and ``b``."""
    n = 0
    for x, y in zip(a, b):
        if int(x) != int(y):
            break
        n += 1
    return n
