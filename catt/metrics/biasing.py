"""B-WER and U-WER: word errors on the biasing-list words and on all other words.

As in Le et al. 2021 (the LibriSpeech rare-word biasing benchmark): a reference word is a
*B-word* when it is one of the words of the utterance's biasing phrases, a *U-word* otherwise.
A substitution or deletion counts toward the class of its reference word; an insertion counts
toward B-WER when the inserted word is a B-word of the utterance, toward U-WER otherwise. The
denominators are the numbers of B-words and U-words in the references.

>>> e = biased_word_errors(["call kaitlyn now"], ["call caitlin now"], [["kaitlyn fitzgerald"]])
>>> e.biased.rate, e.unbiased.rate
(100.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Iterable, Optional, Sequence

from catt.metrics.wer import ErrorCounts, WordAlignment, align_words

__all__ = ["BiasingErrors", "biasing_words", "biased_word_errors"]


@dataclass(frozen=True)
class BiasingErrors:
    """Word error counts overall, on B-words and on U-words."""

    overall: ErrorCounts = ErrorCounts()
    biased: ErrorCounts = ErrorCounts()
    unbiased: ErrorCounts = ErrorCounts()

    @property
    def wer(self) -> Optional[float]:
        return self.overall.rate

    @property
    def b_wer(self) -> Optional[float]:
        return self.biased.rate

    @property
    def u_wer(self) -> Optional[float]:
        return self.unbiased.rate

    def __add__(self, other: BiasingErrors) -> BiasingErrors:
        return BiasingErrors(
            overall=self.overall + other.overall,
            biased=self.biased + other.biased,
            unbiased=self.unbiased + other.unbiased,
        )


def biasing_words(phrases: Iterable[str]) -> FrozenSet[str]:
    """The set of words of a phrase list: ``["noodle lamp"] -> {"noodle", "lamp"}``."""
    return frozenset(w for phrase in phrases for w in phrase.split())


def _op_counts(op: str) -> ErrorCounts:
    """The counts one alignment operation adds: a reference word unless it is an insertion."""
    return ErrorCounts(
        ref_words=int(op != "insert"),
        substitutions=int(op == "substitute"),
        deletions=int(op == "delete"),
        insertions=int(op == "insert"),
    )


def _utterance_errors(alignment: WordAlignment, b_words: FrozenSet[str]) -> BiasingErrors:
    """Split one utterance's edit operations between B-words and U-words."""
    biased = unbiased = ErrorCounts()
    for op, ref_word, hyp_word in alignment.ops:
        # An insertion is classed by the inserted word, anything else by the reference word.
        word = hyp_word if op == "insert" else ref_word
        counts = _op_counts(op)
        if word in b_words:
            biased = biased + counts
        else:
            unbiased = unbiased + counts
    return BiasingErrors(overall=biased + unbiased, biased=biased, unbiased=unbiased)


def biased_word_errors(
    refs: Sequence[str], hyps: Sequence[str], biasing_lists: Sequence[Iterable[str]]
) -> BiasingErrors:
    """Corpus-level WER, B-WER and U-WER counts.

    Args:
        refs: reference word strings (no tags), one per utterance.
        hyps: hypothesis word strings, one per utterance.
        biasing_lists: each utterance's biasing phrases (its own list, never distractors).
    """
    if len(biasing_lists) != len(refs):
        raise ValueError(f"{len(refs)} references but {len(biasing_lists)} biasing lists")
    total = BiasingErrors()
    for alignment, phrases in zip(align_words(refs, hyps), biasing_lists):
        total = total + _utterance_errors(alignment, biasing_words(phrases))
    return total
