"""Intent and slot scores: intent accuracy, slot accuracy, slot P/R/F1 and SLURP's SLU-F1.

Slots are :class:`catt.text.tags.Slot` (type, value). All rates are percentages.

>>> from catt.text.tags import Slot
>>> ref = [[Slot("contact", "kaitlyn fitzgerald")]]
>>> hyp = [[Slot("contact", "caitlin fitzgerald")]]
>>> slot_scores(ref, hyp).accuracy
0.0
>>> round(slu_f1_scores(ref, hyp).slu_f1, 1)  # 4 / (4 + 2 * (1/2 + 1/9))
76.6
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import jiwer

from catt.metrics.wer import word_errors
from catt.text.tags import Slot

__all__ = [
    "SlotCounts",
    "SlotScores",
    "SluF1Scores",
    "intent_accuracy",
    "slot_scores",
    "slu_f1_scores",
    "word_distance",
    "char_distance",
]

Distance = Callable[[str, str], float]


def _pct(num: float, den: float) -> Optional[float]:
    return None if den == 0 else 100.0 * num / den


@dataclass(frozen=True)
class SlotCounts:
    """True positives, false positives and false negatives (floats: SLU-F1 uses partial ones)."""

    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0

    @property
    def precision(self) -> Optional[float]:
        """``100 tp / (tp + fp)``; None without any hypothesis slot."""
        return _pct(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> Optional[float]:
        """``100 tp / (tp + fn)``; None without any reference slot."""
        return _pct(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> Optional[float]:
        """``100 * 2 tp / (2 tp + fp + fn)`` (= 2PR/(P+R)); None without any slot at all."""
        return _pct(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def __add__(self, other: SlotCounts) -> SlotCounts:
        return SlotCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def _total(by_type: Mapping[str, SlotCounts]) -> SlotCounts:
    return sum(by_type.values(), SlotCounts())


@dataclass(frozen=True)
class SlotScores:
    """Exact-match slot counts per slot type, and the micro-averaged scores over all types.

    ``accuracy`` is the share of reference slots matched by a hypothesis slot of the same type
    and exactly the same value (each hypothesis slot matching at most one reference slot); with
    exact matching it equals the recall.
    """

    by_type: Mapping[str, SlotCounts] = field(default_factory=dict)

    @property
    def total(self) -> SlotCounts:
        return _total(self.by_type)

    @property
    def accuracy(self) -> Optional[float]:
        return self.total.recall

    @property
    def precision(self) -> Optional[float]:
        return self.total.precision

    @property
    def recall(self) -> Optional[float]:
        return self.total.recall

    @property
    def f1(self) -> Optional[float]:
        return self.total.f1


@dataclass(frozen=True)
class SluF1Scores:
    """SLURP's distance-smoothed span counts with the word and the char distance."""

    word: Mapping[str, SlotCounts] = field(default_factory=dict)
    char: Mapping[str, SlotCounts] = field(default_factory=dict)

    @property
    def word_f1(self) -> Optional[float]:
        return _total(self.word).f1

    @property
    def char_f1(self) -> Optional[float]:
        return _total(self.char).f1

    @property
    def slu_f1(self) -> Optional[float]:
        """F1 of the summed word and char confusion counts (SLURP's SLU-F1)."""
        return (_total(self.word) + _total(self.char)).f1


def intent_accuracy(
    ref_intents: Sequence[Optional[str]], hyp_intents: Sequence[Optional[str]]
) -> Optional[float]:
    """Percentage of utterances whose hypothesis intent equals the reference intent.

    Utterances without a reference intent are left out; None when no utterance has one.
    """
    if len(ref_intents) != len(hyp_intents):
        raise ValueError(f"{len(ref_intents)} reference intents but {len(hyp_intents)} hypotheses")
    pairs = [(r, h) for r, h in zip(ref_intents, hyp_intents) if r is not None]
    return _pct(sum(r == h for r, h in pairs), len(pairs))


def _check_lengths(refs: Sequence, hyps: Sequence) -> None:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} reference slot lists but {len(hyps)} hypotheses")


def slot_scores(refs: Sequence[Sequence[Slot]], hyps: Sequence[Sequence[Slot]]) -> SlotScores:
    """Exact (type, value) matching of each utterance's hypothesis slots to its reference slots.

    A hypothesis slot equal to a still unmatched reference slot is a true positive (and uses that
    reference slot up), otherwise a false positive; unmatched reference slots are false negatives.
    """
    _check_lengths(refs, hyps)
    tp: Dict[str, float] = defaultdict(float)
    fp: Dict[str, float] = defaultdict(float)
    fn: Dict[str, float] = defaultdict(float)
    for ref, hyp in zip(refs, hyps):
        left = list(ref)
        for slot in hyp:
            if slot in left:
                left.remove(slot)
                tp[slot.type] += 1
            else:
                fp[slot.type] += 1
        for slot in left:
            fn[slot.type] += 1
    types = sorted(set(tp) | set(fp) | set(fn))
    return SlotScores({t: SlotCounts(tp[t], fp[t], fn[t]) for t in types})


def word_distance(gold: str, hyp: str) -> float:
    """Word-level distance of two slot values: their WER as a fraction (not capped at 1).

    An empty gold value is at distance 0 from an empty hypothesis value and 1 from any other.
    """
    counts = word_errors([gold], [hyp])
    if counts.ref_words == 0:
        return float(counts.errors > 0)
    return counts.errors / counts.ref_words


def char_distance(gold: str, hyp: str) -> float:
    """Char-level distance: Levenshtein distance / the longer value's length, in [0, 1]."""
    longest = max(len(gold), len(hyp))
    if longest == 0:
        return 0.0
    out = jiwer.process_characters(gold, hyp)
    return (out.substitutions + out.deletions + out.insertions) / longest


def _distance_counts(
    refs: Sequence[Sequence[Slot]], hyps: Sequence[Sequence[Slot]], distance: Distance
) -> Dict[str, SlotCounts]:
    """SLURP's span-distance counts, per slot type.

    Each hypothesis slot, in order, is paired with the unpaired reference slot of its type at
    the lowest distance d (the first one on ties): tp += 1, fp += d, fn += d. A hypothesis slot
    of a type with no unpaired reference slot is a false positive; unpaired reference slots are
    false negatives.
    """
    _check_lengths(refs, hyps)
    tp: Dict[str, float] = defaultdict(float)
    fp: Dict[str, float] = defaultdict(float)
    fn: Dict[str, float] = defaultdict(float)
    for ref, hyp in zip(refs, hyps):
        left: List[Slot] = list(ref)
        for slot in hyp:
            candidates = [i for i, r in enumerate(left) if r.type == slot.type]
            if not candidates:
                fp[slot.type] += 1
                continue
            dists = [distance(left[i].value, slot.value) for i in candidates]
            best = min(range(len(candidates)), key=dists.__getitem__)
            tp[slot.type] += 1
            fp[slot.type] += dists[best]
            fn[slot.type] += dists[best]
            del left[candidates[best]]
        for r in left:
            fn[r.type] += 1
    types = sorted(set(tp) | set(fp) | set(fn))
    return {t: SlotCounts(tp[t], fp[t], fn[t]) for t in types}


def slu_f1_scores(refs: Sequence[Sequence[Slot]], hyps: Sequence[Sequence[Slot]]) -> SluF1Scores:
    """SLU-F1 (Bastianelli et al. 2020): span F1 smoothed by word and char value distances."""
    return SluF1Scores(
        word=_distance_counts(refs, hyps, word_distance),
        char=_distance_counts(refs, hyps, char_distance),
    )
